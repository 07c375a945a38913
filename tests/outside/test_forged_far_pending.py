"""An enrolled device forges a far register's pending count to the console (nineteenth session, signed).

A far record (a node's heartbeat passed on beyond its links, ``sync/_spread.py``) carries the node's
pending count, which nobody signs (its said fields are signed since farsign: ``_far_signing``). The
relay tells the console each node's count (``Heartbeat.mesh``); for a node beyond its links that was
the far record's, so a device between the relay and a register forged the register's record one seq
ahead saying "pending 0" (and again above every record it held) and the console showed the
register's unsent sales as uploaded: a status more optimistic than the truth.

Now the console takes a pending count only for a node linked to the relay (its own heartbeat, which
the link's mTLS authenticates: the relay's ``peers``); a far node's is shown as told
(``pending_told``), its ``pending`` unknown, and counted in ``meshpos_venue_devices_pending_unknown``
(``console/devices.py``). A relay leaves out a linked node whose heartbeat has not come yet (its far
record's count would pass for its own). Sans-I/O synchronizers (the chain of
``test_sync_topology.test_the_relay_tells_the_console_of_nodes_beyond_its_links``) and the console's
own ``DeviceView``. On main the first test failed: R3's ``pending`` was the forged 0.
"""

from __future__ import annotations

from dataclasses import replace

from pycrdt import Map

from meshpos.console.devices import DeviceView
from meshpos.sync import Synchronizer
from meshpos.sync._features import FEATURES
from meshpos.sync._messages import FarRecord, Heartbeat
from meshpos.sync._session import Session
from tests.sync.helpers import VENUE, pump, sync_pair
from tests.sync.test_sync_topology import CONFIG, DOC


class PendingForger(Synchronizer):
    """Passes on R3's record one seq above the one it holds, saying nothing is pending."""

    def _addressed(self, beat: Heartbeat, session: Session) -> Heartbeat:
        beat = super()._addressed(beat, session)
        held = self._far.records.get("R3")
        if held is None or not beat.far:
            return beat
        forged = replace(held, seq=held.seq + 1, pending=0)
        far: tuple[FarRecord, ...] = (*(r for r in beat.far if r.node != "R3"), forged)
        self._far.learn(forged, self._now or 0.0)  # (its next forgery is one above this one)
        return replace(beat, far=far)


def _node(
    name: str, role: str = "register", kind: type[Synchronizer] = Synchronizer
) -> Synchronizer:
    client = sum(map(ord, name)) * 1000 + 7
    return kind(venue=VENUE, node_id=name, role=role, client_id=client, config=CONFIG)


def _chain(middle: Synchronizer) -> tuple[Synchronizer, Synchronizer, Synchronizer]:
    """R1 - ``middle`` - R3, the console linked to R1: R1 never meets R3; R3 sold, unsent."""
    r1, r3, console = _node("R1"), _node("R3"), _node("console", "console")
    links = [(r1, middle, *sync_pair(r1, middle, features=FEATURES))]
    links.append((middle, r3, *sync_pair(middle, r3, features=FEATURES)))
    links.append((console, r1, *sync_pair(console, r1, features=FEATURES)))
    r3.open_doc(DOC).get("sales", type=Map)["s1"] = "x"
    for now in (1.0, 2.0, 3.0, 4.0):
        for sync in (r1, middle, r3, console):
            sync.tick(now)
        for a, b, ka, kb in links:
            pump(a, ka, b, kb)
    assert r3.pending(DOC) > 0
    assert "R3" not in {s.peer.node for s in r1.sessions.values() if s.peer}
    return r1, r3, console


def test_a_forged_far_pending_count_of_zero_never_shows_as_uploaded() -> None:
    forger = _node("R2", kind=PendingForger)
    r1, _r3, console = _chain(forger)
    assert console.presence["R1"].mesh["R3"].pending == 0  # the forgery reached the relay's summary
    report = DeviceView().report(console.presence, [], 100.0)
    assert report["R3"]["reachable"]
    assert report["R3"]["pending"] is None  # unknown: the console vouches for no far count
    assert report["R3"]["pending_told"] == 0  # shown as told, never as pending
    own = r1.linked_presence["R2"]  # linked to the relay: its own heartbeat's word
    assert report["R2"]["pending"] == sum(own.pending.values())
    assert report["R2"]["pending_told"] is None


def test_an_honest_far_count_is_shown_as_told() -> None:
    _r1, r3, console = _chain(_node("R2"))
    report = DeviceView().report(console.presence, [], 100.0)
    assert report["R3"]["pending"] is None
    assert report["R3"]["pending_told"] == r3.pending(DOC)


def test_a_linked_node_whose_heartbeat_has_not_come_is_left_out_of_the_summary() -> None:
    """The console reads the count of a node in the relay's ``peers`` as its own heartbeat's: a
    far record's count must not pass for it in the beat between the link and its first heartbeat."""
    relay = _node("R1")
    relay.tick(1.0)
    relay._far.learn(FarRecord("R2", "register", 100, False, False, 5, pending=0), 1.0)
    assert "R2" in relay._mesh_summary(())
    assert "R2" not in relay._mesh_summary(("R2",))
