"""A relay claimant's signed said fields renewed, and what far nodes make of the renewals (the
twenty-first session, forgedrise: ``FarTable.uplinks``, ``_far_signing._sign_said``).

The attack the renewals answer is in tests/outside/test_forged_far_seq.py; here what they must not
break: a live relay at the far end of long paths (a ring: every renewal crosses up to half the venue
a hop a beat) stays every node's relay, and a claimant that never renews (an N−1 node, which signs
its said fields only when they change) is never held to renewals it does not make.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from meshpos.sync._messages import FarRecord
from meshpos.sync._presence import CLAIM_LAPSE_TIMEOUTS, FarTable
from meshpos.trust.authority import VenueAuthority, init_venue
from tests.sync.helpers import VENUE
from tests.sync.signed_bed import keyed
from tests.sync.test_sync_topology import Venue

RELAY = ("register", 1, True, True, "")  # role, priority, uplink, relay claim, problem
TIMEOUT = 2.5  # a direct heartbeat's timeout (1 s beats, 2.5 missed)
LAPSE = CLAIM_LAPSE_TIMEOUTS * TIMEOUT


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> VenueAuthority:
    return init_venue(tmp_path_factory.mktemp("venue") / "venue", "Cafe", VENUE)


def _far_claimant(table: FarTable) -> None:
    """R005's record, a relay claimant with uplink, heard through a hop at seq 10, signed at 9."""
    table.vouching = True
    table.vouch("R005", 9, RELAY, 0.0)
    table.learn(FarRecord("R005", "register", 1, True, True, 10), 0.0)


def _candidates(table: FarTable, now: float) -> list[str]:
    return [r.node for r in table.uplinks(now, 2 * TIMEOUT, LAPSE)]


def test_a_claimant_that_never_renews_stays_a_candidate_while_its_record_is_fresh() -> None:
    """An N−1 claimant: one part (its claim), then records only, for longer than the lapse."""
    table = FarTable()
    _far_claimant(table)
    for second in range(1, 31):
        table.learn(FarRecord("R005", "register", 1, True, True, 10 + second), float(second))
        assert _candidates(table, float(second)) == ["R005"], second


def test_a_renewing_claimant_leaves_the_candidates_when_its_renewals_stop() -> None:
    """Renewals every 5 s, then none: its records (a hop's word) still rise in every second, and
    the claimant is out of the candidates once the lapse has passed since its last renewal."""
    table = FarTable()
    _far_claimant(table)
    for second in range(1, 31):
        now = float(second)
        if second % 5 == 0 and second <= 15:
            assert not table.vouch("R005", 10 + second, RELAY, now)  # (the same said: no news)
        table.learn(FarRecord("R005", "register", 1, True, True, 10 + second), now)
        # (the first renewal, at 5 s, shows it renews; the last came at 15 s)
        expected = [] if now - 15.0 > LAPSE else ["R005"]
        assert _candidates(table, now) == expected, second


def test_a_live_relay_at_the_end_of_long_paths_stays_every_nodes_relay(
    authority: VenueAuthority,
) -> None:
    """Twenty keyed registers on a ring (degree 2: up to 10 hops, a beat each): every node follows
    the same relay on every step for 40 simulated s, its renewals arriving as often as it signs
    them however far they go (the lapse is timed from each part's arrival)."""
    venue = Venue(20)
    for sync in venue.net.nodes.values():
        keyed(sync, authority)
        sync.config = replace(sync.config, degree=2, full_mesh=0)
    venue.settle(10.0)
    relay = venue.agreed_relay()
    assert relay is not None
    renewed = venue.net.nodes[relay].said_parts.signed
    far = [n for n, s in venue.net.nodes.items() if n != relay and not s._linked_to(relay)]
    assert len(far) >= 15
    end = venue.net.now + 40.0
    while venue.net.now < end:
        venue.net.advance(0.05, step=0.05)
        seen = {s.relay for s in venue.net.nodes.values()}
        assert seen == {relay}, f"relays {seen} at {venue.net.now:.2f} s"
    assert venue.net.nodes[relay].said_parts.signed - renewed >= 7  # (it did renew: 40 s / 5 s)
