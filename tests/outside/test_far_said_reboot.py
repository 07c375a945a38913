"""A node whose device rebooted speaks again beyond its links (outside round, session 20: farsign).

A node's far record seq is ``ms at start + beats`` on the engine's clock (``_spread._far_seq``), and
that clock is the event loop's: ``time.monotonic``, which starts again at zero when the device boots
(a power cut in month three, or the register's id re-enrolled on another machine). Far nodes keep a
node's signed said fields of the highest seq (``FarTable.vouch``), also once its record timed out.
So after a reboot the node's new signed parts are older than the one held from before, and far nodes
read its pre-reboot role, uplink and relay claim until its new uptime passes the old one (hours or
days): a relay that rebooted and no longer claims the role stays a relay with an uplink for every
node beyond its links. Before farsign the record alone timed out and the next one was taken.

Strict xfail: the fix needs a record seq that rises across reboots (a wall-clock base, or a base
kept in the store), which moves every far record's seq and the in-memory beds' restarts; too large
for this round (the report says so).
"""

from __future__ import annotations

import pytest

from meshpos.trust.authority import VenueAuthority

from ..sync.test_sync_signed_said import NONE, RELAY, _beat, _candidate, _node, _part, _record
from ..sync.test_sync_signed_said import authority as authority  # (the module's fixture)

HOURS_10_MS = 10 * 3600 * 1000  # the relay's uptime before its power cut
MINUTE_MS = 60 * 1000  # its uptime when it speaks again


@pytest.mark.xfail(
    strict=True,
    reason="a far record's seq starts from the device's uptime: after a reboot the node's new "
    "signed said fields are older than those held from before (outside round, session 20)",
)
def test_a_relay_rebooted_that_gave_up_the_role_is_no_relay_beyond_its_links(
    authority: VenueAuthority,
) -> None:
    sync = _node(authority)
    before = HOURS_10_MS
    sync._on_heartbeat(
        _beat(1, _record(before + 5), saids=(_part(authority, "R005", RELAY, before),))
    )
    assert _candidate(sync)
    assert sync.presence["R005"].relay
    # R005's device loses power: its record times out here
    assert sync._far.expire(1_000.0, 10.0, remember=20.0) == ["R005"]
    # it boots, another node is the relay now: its first record and signed part say so
    after = MINUTE_MS
    sync._on_heartbeat(
        _beat(2, _record(after + 1, NONE), saids=(_part(authority, "R005", NONE, after),))
    )
    assert not sync.presence["R005"].relay
    assert not _candidate(sync)
