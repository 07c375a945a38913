"""An enrolled device turned hostile, against what the bounded topology takes from any peer (issue 18):
far records and gone notices of nodes beyond the links, the console's state and report counts passed
on (sync/_claims.py). A stream of heartbeats naming new nodes, client ids and registers in every beat
must leave every honest node bounded, counting and logging the refusals once per device and cause,
and the honest nodes still sync. On the in-memory network: the forger is a real ``Synchronizer``
whose beats carry the forgeries."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from meshpos.sync import Synchronizer
from meshpos.sync._bodies import MAX_FAR, MAX_JSON_DOCS, MAX_STATE_CLIENTS
from meshpos.sync._claims import MAX_FAR_NODES
from meshpos.sync._messages import FarRecord, Heartbeat
from meshpos.sync._session import Session

from .helpers import VENUE
from .test_sync_topology import CONFIG, DOC, Venue

HONEST = 6
NEW_PER_BEAT = 60  # far records a beat may carry at most 64: one of them the forger's own
FAKE_CLIENT = 10**12  # client ids no device has
BEATS = 120  # forged beats: each table would pass its bound several times over


class Forger(Synchronizer):
    """Beats as often as a node may, each beat naming nodes, client ids and registers nobody has."""

    forged = 0

    def _addressed(self, beat: Heartbeat, session: Session) -> Heartbeat:
        beat = super()._addressed(beat, session)
        self._trigger = True  # the next beat at once (TRIGGER_SPACING)
        n = self.forged
        self.forged += 1
        fake = [f"X{n:04d}-{k:02d}" for k in range(NEW_PER_BEAT)]
        far = tuple(FarRecord(node, "register", 1_000_000, False, False, 1, 0) for node in fake)
        return replace(
            beat,
            far=beat.far[:1] + far,
            gone={f"G{n:04d}-{k:02d}": 1 for k in range(NEW_PER_BEAT)},
            console={DOC: {FAKE_CLIENT + n * 512 + k: 1 for k in range(512)}},
            reports={DOC: {node: {"receipts": 1} for node in fake}},
        )


def test_a_device_naming_new_nodes_clients_and_registers_in_every_beat_grows_no_node(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="meshpos.sync")
    venue = Venue(HONEST)
    venue.settle(10.0)
    forger = Forger(venue=VENUE, node_id="R900", role="register", client_id=99, config=CONFIG)
    forger.open_doc(DOC)
    venue.net.add(forger)
    venue.until(lambda: forger.forged >= BEATS, limit=60.0)
    honest = {name: s for name, s in venue.net.nodes.items() if name != "R900"}
    for name, sync in honest.items():
        assert sync._far.size() <= MAX_FAR_NODES, name
        assert len(sync._console_sv.get(DOC, {})) <= MAX_STATE_CLIENTS, name
        assert len(sync._reports.get(DOC, {})) <= MAX_JSON_DOCS, name
    # the forger's links refused past the bounds; counted, and said once per device and cause
    linked = [s for s in honest.values() if s.claim_refusals.counts]
    assert linked, "no honest node refused anything"
    for sync in linked:
        assert set(sync.claim_refusals.counts) <= {
            "far_nodes_full",
            "console_clients_full",
            "console_registers_full",
        }
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    # no honest node's beat was refused: what it passes on stays within a heartbeat's bounds
    closed = [w for w in warnings if w.startswith("closing session with R0")]
    assert not closed, closed[:3]
    said = [w for w in warnings if w.startswith("refused") and "from R900" in w]
    assert said
    assert len(said) <= 3 * len(honest), said  # at most once per device and cause on each node
    refused = sum(n for s in linked for n in s.claim_refusals.counts.values())
    assert refused > 10 * len(said)  # the rest are counted, not logged
    # the honest nodes still sync: a sale reaches every one of them
    client, clock = venue.write("R001", "a-sale-after-the-attack")
    venue.until(lambda: set(honest) <= venue.holders(client, clock), limit=20.0)


def test_more_nodes_gone_at_once_than_a_beat_may_name_closes_no_link(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Half of a large venue dies at once (a switch, a circuit): a node that knows 100 nodes gone
    says so in its beats, at most MAX_FAR a beat, every one within a few beats (a beat naming
    more was refused and its link closed: half of a 150-node simulated venue dying closed the
    survivors' links)."""
    venue = Venue(6)
    venue.settle(10.0)
    caplog.clear()
    teller = venue.net.nodes["R001"]
    dead = {f"D{i:03d}" for i in range(100)}
    for node in sorted(dead):
        teller._far.gone(node, 1, venue.net.now)
    assert len(teller._gone_out(venue.net.now)) == MAX_FAR
    linked = venue.net.links()["R001"]
    venue.until(
        lambda: all(dead <= venue.net.nodes[n]._far.gone_nodes() for n in linked), limit=3.0
    )
    closed = [r.getMessage() for r in caplog.records if "closing session" in r.getMessage()]
    assert not closed, closed[:3]
