"""An enrolled neighbour forges a live node's far record with a huge seq, then signs it gone at that
seq (the twentieth session, seqforge: part fifty's suspicion, docs/architecture.md (Security)).

A far record's seq is a hop's word (only its said fields are signed: ``sync/_far_signing.py``). The
forger, linked to the relay (its id sorts next to it on the ring), passes on the relay's record at
a seq far above the real one in every beat, and with it its own signed gone notice at that seq. On
main every far node took the forged record (it is "newer"), then the notice marked the relay as of
that seq: the relay's real records, all below the mark, were held marked and never took it back, so
the far nodes elected another relay for as long as the forger went on (two relays uploading) and the
signer was never distrusted; the forged record alone (no notice), never refreshed by the real
ones below it, left the far nodes' candidates and they elected another relay. Now a node linked to
the relay holds the relay's own record from its link and takes no hop's record of it (so it passes
the real ones on), and a far node tracks the records it hears below the one it holds
(``FarTable``, ``_Far.below``): their rise keeps the held one fresh and takes a signed mark back a
heartbeat after it was made (``_rising``), the signer distrusted about the relay (5 minutes), as
when it signs "as of the relay's next seq" (``test_forged_gone_notice.py``).

Each test fails on main (the test file run against ``git archive main``): the first's wait for no
honest node to hold the relay marked runs out (3 simulated s), the second finds the far nodes
following another relay (``{'R001', 'R004'}``) about 6 s in.

Left then (a strict xfail): while the forger raises its forged seq in every beat, the relay's
real death is signed by its honest neighbours at the real seq, stale where the forged one is held,
and the forged record stays fresh: the far nodes kept electing the dead relay (30 s and on; from
6 s on when the forged seq stays put). **Changed** (the twenty-first session, forgedrise): the relay
claimant signs its said fields again every 5 s and a far node that saw it renew leaves it out of the
candidates once its renewals stop for 10 s (``FarTable.uplinks``): the far nodes elect another 8
simulated s after the death (5 s when the forged seq stays put) and never the dead one again. Each
case fails on main (the file run against ``git archive main``): the rising ones' wait runs out (15
simulated s), the constant one finds the far nodes back on the dead relay (``{'R001', 'R004'}``)
about 21 s in. Counted in "n" meanwhile: pessimistic, never optimistic.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from meshpos.sync._gone_words import notice_body
from meshpos.sync._messages import FarRecord, Heartbeat
from meshpos.sync._session import Session
from meshpos.trust.authority import VenueAuthority, init_venue
from tests.outside.test_forged_gone_notice import (
    HUGE_SEQ,
    Signing,
    _keyed_venue,
    _never_moves,
    _relays,
)
from tests.sync.helpers import VENUE
from tests.sync.test_sync_topology import CONFIG

#: how far above the relay's real seq the forger's record and notice are (a week of beats; 2**52)
AHEAD = [7 * 86_400, HUGE_SEQ]


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> VenueAuthority:
    return init_venue(tmp_path_factory.mktemp("venue") / "venue", "Cafe", VENUE)


class SeqForger(Signing):
    """Passes on its target's record at ``forged`` (the real seq + ``ahead``, fixed once) in every beat, and, when ``sign``, its own signed gone notice at that seq."""

    sign = True
    rise = 0  # (1: one more in every beat, which takes its own notice back)
    forged: int | None = None

    def _addressed(self, beat: Heartbeat, session: Session) -> Heartbeat:
        real = self._real_seq()
        if self.forged is not None:
            self.forged += self.rise
        elif real is not None:
            self.forged = real + self.ahead
        beat = super()._addressed(beat, session)
        if self.forged is None:
            return beat
        record = FarRecord(self.target, "register", 1, True, True, self.forged)
        far = (*beat.far[:1], record, *(r for r in beat.far[1:] if r.node != self.target))
        signer = self.config.held_signer
        assert signer is not None
        body = notice_body(self.target, self.node_id, self.forged, VENUE)
        gones = (signer(body),) if self.sign else ()
        return replace(beat, far=far[:8], gone={}, gones=tuple(g for g in gones if g is not None))

    def _real_seq(self) -> int | None:
        """The target's real seq: its own last heartbeat on the link (the forger's table holds the
        forged one it learned back from its peers)."""
        own = self._presence.get(self.target)
        return own.heartbeat.seq if own is not None else None


def _seq_forger(ahead: int, sign: bool = True) -> SeqForger:
    forger = SeqForger(venue=VENUE, node_id="R0010", role="register", client_id=99, config=CONFIG)
    forger.ahead, forger.sign = ahead, sign  # (R001 the relay: R0010 the ring's next id)
    return forger


@pytest.mark.parametrize("ahead", AHEAD)
def test_a_forged_seq_then_a_signed_notice_at_it_is_taken_back_and_its_signer_distrusted(
    authority: VenueAuthority, ahead: int
) -> None:
    forger = _seq_forger(ahead)
    venue, relay = _keyed_venue(authority, forger)
    assert relay == "R001"
    name = forger.node_id

    honest = [s for n, s in venue.net.nodes.items() if n not in (relay, name)]

    def taken_back() -> bool:  # a node took the notice, the relay's records took it back
        now = venue.net.now
        return any(s.notices.distrusted(name, relay, now) for s in honest)

    venue.until(taken_back, limit=6.0)
    venue.until(lambda: not any(s._far.marked(relay) for s in honest), limit=3.0)
    venue.until(lambda: _relays(venue, name) == {relay}, limit=3.0)
    _never_moves(venue, relay, 8.0, name)


def test_a_forged_seq_alone_never_drops_the_live_node_from_the_count(
    authority: VenueAuthority,
) -> None:
    """No notice: the forged record (its seq a week of beats ahead, the same in every beat) is held,
    the relay's real records below it keep it fresh; the relay is in every honest node's presence on every
    step, longer than a far record's timeout, and the election never moves."""
    forger = _seq_forger(AHEAD[0], sign=False)
    venue, relay = _keyed_venue(authority, forger)
    name = forger.node_id
    end = venue.net.now + 25.0
    while venue.net.now < end:
        venue.net.advance(0.05, step=0.05)
        blind = [
            n
            for n, s in venue.net.nodes.items()
            if n not in (relay, name) and relay not in s.presence
        ]
        assert blind == [], f"{relay} is gone to {blind} at {venue.net.now:.2f} s"
        assert _relays(venue, name) == {relay}


@pytest.mark.parametrize(("ahead", "rise"), [(AHEAD[0], 1), (HUGE_SEQ, 1), (AHEAD[0], 0)])
def test_a_rising_forged_seq_does_not_keep_a_dead_relay_elected(
    authority: VenueAuthority, ahead: int, rise: int
) -> None:
    """The relay really dies while the forger passes on its record a week (or 2**52) ahead, one
    higher in every beat or the same (no notice): the far nodes elect another relay within the
    relay's renewals' lapse (``CLAIM_LAPSE_TIMEOUTS`` direct timeouts after its last signed part,
    10 simulated s here), and never the dead one again while the forger goes on."""
    forger = _seq_forger(ahead, sign=False)
    forger.rise = rise
    venue, relay = _keyed_venue(authority, forger)
    name = forger.node_id
    venue.net.advance(3.0, step=0.05)
    venue.net.crash(relay, notify_peers=True)
    venue.until(lambda: relay not in _relays(venue, name), limit=15.0)
    end = venue.net.now + 20.0
    while venue.net.now < end:
        venue.net.advance(0.05, step=0.05)
        seen = _relays(venue, name)
        assert relay not in seen, f"relays {seen} at {venue.net.now:.2f} s"
