"""An enrolled device forges the relay's far record to move the far nodes' election (issue 18,
farsign: the open part of red's finding, docs/architecture.md (Security)).

A far record is a node's heartbeat passed on beyond its links; its said fields (role, priority,
uplink, relay claim, problem) were any hop's word: a record of the relay one seq above the real one,
saying "no uplink, no relay claim", took the relay out of every far node's candidates
(``test_forged_gone_notice.py::test_a_forged_far_record_of_the_relay_still_moves_the_election``,
strict xfail until this part). Now a node signs its said fields when they change
(sync/_far_signing.py) and a node that checks devices' words reads a far record's said fields only
from its node's signed part of the highest seq. The forger tries what comes next, in every beat:
its forged record with a signed part in the relay's name that its own key signed, or the relay's
real part with its body changed (each closes the forger's link as bad input); the relay's own old
signed part replayed (stale: a newer one is held). Each checks on every 50 ms step that every honest
node follows the relay. And the honest change still moves the election: a relay that loses its
uplink is left as fast as without signing (the in-memory bed, simulated time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from meshpos.sync import Synchronizer
from meshpos.sync._held_signed import SignedHeld
from meshpos.sync._messages import FarRecord, Heartbeat
from meshpos.sync._presence import Said
from meshpos.sync._said_words import MAX_SAIDS, said_body
from meshpos.sync._session import Session
from meshpos.trust.authority import VenueAuthority, init_venue
from meshpos.trust.device_word import DeviceWordSigner
from tests.outside.test_forged_gone_notice import FORGER, Tracking, _keyed_venue, _never_moves
from tests.sync.helpers import VENUE
from tests.sync.signed_bed import keyed
from tests.sync.test_sync_held_signed import identity
from tests.sync.test_sync_topology import CONFIG, Venue

#: what the forger has every far node believe of the relay: a register with no uplink, no claim
NO_RELAY: Said = ("register", 1, False, False, "")


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> VenueAuthority:
    return init_venue(tmp_path_factory.mktemp("venue") / "venue", "Cafe", VENUE)


class SaidForger(Tracking):
    """Forges its target's record one seq above the one it holds (no uplink, no relay claim), with
    ``forge(seq)``'s signed part in every beat (none: unsigned)."""

    forge: Callable[[int], SignedHeld | None] | None = None  # (set on the instance)

    def _addressed(self, beat: Heartbeat, session: Session) -> Heartbeat:
        beat = super()._addressed(beat, session)
        seq = self._far.seq(self.target)
        if seq is None:
            return beat
        record = FarRecord(self.target, "register", 1, False, False, seq + 1)
        far = (*beat.far[:1], record, *(r for r in beat.far[1:] if r.node != self.target))
        part = self.forge(seq + 1) if self.forge is not None else None
        saids = beat.saids if part is None else (part, *beat.saids)
        return replace(beat, far=far[:8], saids=saids[:MAX_SAIDS])


def _forger(part: Callable[[int], SignedHeld | None] | None = None) -> SaidForger:
    forger = SaidForger(venue=VENUE, node_id=FORGER, role="register", client_id=99, config=CONFIG)
    forger.forge = part
    return forger


def test_a_forged_record_signed_by_the_forger_in_the_relays_name_moves_nothing(
    authority: VenueAuthority,
) -> None:
    """The forger signs the relay's "no uplink, no claim" with its own real key: every honest
    neighbour refuses the beat (the part is not the relay's) and closes the link."""
    own = DeviceWordSigner(identity(authority, FORGER))
    forger = _forger(lambda seq: own(said_body(relay_of(forger), NO_RELAY, seq, VENUE)))
    venue, relay = _keyed_venue(authority, forger)
    _never_moves(venue, relay, 6.0)
    assert not any(s._far.vouched(relay) is None for n, s in _honest(venue, relay))


def test_the_relays_real_part_with_its_body_changed_moves_nothing(
    authority: VenueAuthority,
) -> None:
    """The forger takes the relay's real signed part (passed on to it like everyone's) and makes
    its body say "no uplink, no claim": the signature no longer matches it."""

    def part(seq: int) -> SignedHeld | None:
        real = forger.said_parts.held.get(relay_of(forger))
        if real is None:
            return None
        body = said_body(relay_of(forger), NO_RELAY, seq, VENUE)
        return SignedHeld(body, real.cert, real.sig)

    forger = _forger(part)
    venue, relay = _keyed_venue(authority, forger)
    _never_moves(venue, relay, 6.0)


def test_the_relays_own_old_signed_part_replayed_moves_nothing(authority: VenueAuthority) -> None:
    """The relay really signed, at its first record, what it said then (here: no uplink, no claim,
    as a relay does before its console link is up); the forger replays those bytes with its forged
    record in every beat: older than the part every node holds, so stale."""
    forger = _forger()
    venue, relay = _keyed_venue(authority, forger)
    signer = venue.net.nodes[relay].config.held_signer
    assert isinstance(signer, DeviceWordSigner)
    first = min(s._far.vouched(relay) or 0 for _, s in _honest(venue, relay)) - 1
    old = signer(said_body(relay, NO_RELAY, first, VENUE))
    forger.forge = lambda seq: old
    _never_moves(venue, relay, 6.0)


def _uplink_lost_after(venue: Venue) -> float:
    """Simulated seconds from the agreed relay losing its uplink until every node follows another."""
    relay = venue.agreed_relay()
    assert relay is not None
    venue.net.nodes[relay].set_uplink(False)
    return venue.until(lambda: venue.agreed_relay() not in (None, relay), limit=6.0)


def test_a_relay_that_loses_its_uplink_is_left_as_fast_as_without_signing(
    authority: VenueAuthority,
) -> None:
    """The honest change of said fields: the relay's new part (one signature) goes with its record
    and every hop passes it on at once (one verify each), as the unsigned record went."""
    plain = Venue(8)
    plain.settle(8.0)
    unsigned = _uplink_lost_after(plain)
    signed = Venue(8)
    for sync in signed.net.nodes.values():
        keyed(sync, authority)
    signed.settle(8.0)
    took = _uplink_lost_after(signed)
    assert took <= unsigned + 0.02, (took, unsigned)  # (a tick of the simulated clock)


def relay_of(forger: SaidForger) -> str:
    return forger.target


def _honest(venue: Venue, relay: str) -> list[tuple[str, Synchronizer]]:
    return [(n, s) for n, s in venue.net.nodes.items() if n not in (relay, FORGER)]
