"""A node whose device rebooted speaks again beyond its links (outside round, eighteenth session: farsign).

A node's far record seq was ``ms at start + beats`` on the engine's tick clock (``_far_out._far_seq``),
the event loop's ``time.monotonic``, which starts again at zero when a device boots (a power cut in
month three). Far nodes keep a node's signed said fields of the highest seq (``FarTable.vouch``), also
once its record timed out, so after a reboot they read its pre-reboot role, uplink and relay claim
until its new uptime passed the old one (hours or days): a relay that rebooted and no longer claims
the role stayed a relay with an uplink for every node beyond its links. Before farsign the record
alone timed out and the next one was taken.

Fixed for a device whose wall clock is right in eighteenth session (the base is the wall clock's ms at
start, taken once: tests/sync/test_sync_far_seq.py). **Fixed** (nineteenth session, signed) for a device
whose wall clock is *behind* across the reboot (no RTC and no NTP yet at boot, a restored backup,
its id re-enrolled on a machine whose clock is behind): its first neighbour passes its old signed
part back to it (every part held goes to each new link), and a part of its own at a seq not below
its run's raises the run's seq base above it and signs its said fields again
(``_far_signing._own_part_back``), so its new part wins beyond its links. Real synchronizers with a
real venue CA's device keys; on main this test failed at the last assertions (the old part won).
"""

from __future__ import annotations

from meshpos.sync import Synchronizer
from meshpos.sync._features import FEATURES
from meshpos.sync._messages import Heartbeat
from meshpos.trust.authority import VenueAuthority

from ..sync.helpers import VENUE, pump, sync_pair
from ..sync.signed_bed import keyed
from ..sync.test_sync_signed_said import NONE, RELAY, _candidate, _part, _record
from ..sync.test_sync_signed_said import authority as authority  # (the module's fixture)
from ..sync.test_sync_topology import CONFIG, DOC

HOURS_10_MS = 10 * 3600 * 1000  # the relay's uptime before its power cut
MINUTE_MS = 60 * 1000  # its uptime when it speaks again


def _node(authority: VenueAuthority, name: str) -> Synchronizer:
    """A keyed node (its own client id: a link between two with the same one is refused)."""
    client = 7000 + int(name[1:])
    sync = Synchronizer(venue=VENUE, node_id=name, role="register", client_id=client, config=CONFIG)
    keyed(sync, authority)
    sync.open_doc(DOC)
    return sync


def _told_by(sender: str, seq: int, authority: VenueAuthority, at: int) -> Heartbeat:
    """R005's record and its signed part (relay, uplink) of its first run, as ``sender`` passes them."""
    return Heartbeat(
        sender,
        "register",
        1,
        False,
        False,
        seq,
        far=(_record(at + 5),),
        saids=(_part(authority, "R005", RELAY, at),),
    )


def test_a_relay_rebooted_that_gave_up_the_role_is_no_relay_beyond_its_links(
    authority: VenueAuthority,
) -> None:
    far = _node(authority, "R001")  # beyond R005's links: it hears R005 through R002
    neighbour = _node(authority, "R002")
    before = HOURS_10_MS
    far._on_heartbeat(_told_by("R003", 1, authority, before))
    neighbour._on_heartbeat(_told_by("R003", 1, authority, before))
    assert _candidate(far)
    assert far.presence["R005"].relay
    # R005's device loses power: its record times out beyond its links
    assert far._far.expire(1_000.0, 10.0, remember=20.0) == ["R005"]
    # it boots with its wall clock behind (its run's seqs start about a minute's ms in), another
    # node is the relay now: its said fields say no uplink, no relay claim
    rebooted = _node(authority, "R005")
    rebooted.wall_offset = lambda: MINUTE_MS / 1000 - 1.0
    links = [
        (rebooted, *sync_pair(rebooted, neighbour, now=1.0, features=FEATURES), neighbour),
        (neighbour, *sync_pair(neighbour, far, now=1.0, features=FEATURES), far),
    ]
    for now in (2.0, 3.0, 4.0, 5.0):
        for sync in (rebooted, neighbour, far):
            sync.tick(now)
        for a, ka, kb, b in links:
            pump(a, ka, b, kb)
    assert rebooted.said_parts.raised == 1
    assert rebooted._far_seq() > before
    assert neighbour._far.vouched("R005") == far._far.vouched("R005")
    assert (far._far.vouched("R005") or 0) > before
    assert not far.presence["R005"].relay
    assert not far.presence["R005"].uplink
    assert not _candidate(far)
    assert rebooted.said_parts.own is not None
    assert rebooted.said_parts.own[0][2:4] == NONE[2:4]
