"""An enrolled device tries to hide a live device from the venue with forged gone notices (red,
fifteenth session: a finding; closed in the sixteenth, issue 18, gone).

On the bounded topology a node that loses its link to a peer tells the mesh the peer is gone, with the
last heartbeat number (``seq``) it heard from it, and every node takes the notice from any linked peer
(sync/_spread.py ``_learn_far``). The notice is unsigned and its ``seq`` is the sender's word: an
enrolled device (a real certificate, a real link) named a live register gone "as of" 2**52, and every
node not linked to that register forgot it for good; those nodes left it out of the "n" of "on k of n
devices" (register/status.py ``_durability``: a sale it lacks read "on 7 of 7" where the truth is 7 of
8, more optimistic than the truth), out of the election's candidates and the topology's members.

Now a notice only marks a node "not reachable now" (sync/_presence.py ``FarTable.gone``), as of the seq
held here, not the notice's: its record stays counted in ``presence`` ("n") till it times out, and the
node's next record takes the mark back. Each test checks on every step of the simulated clock (50 ms)
that every honest node counts the victim, so "never left out" means never, not "back by the end".
The variants are what a forger tries next: a far record of the victim with a huge seq first (so the
victim's own records look old), and notices naming the relay (to force a re-election). The project's
in-memory bed for hostile devices (tests/sync/test_sync_forged_claims.py): real ``Synchronizer``
objects, the forger one whose beats carry the forgeries.

**Changed** (issue 18, notice): a notice moves the election only signed by a node linked to the named
one (sync/_notices.py). The election's tests run on a keyed venue (every node a device key of a real
venue CA, the forger too: it is enrolled) and the forger tries what comes next: unsigned notices; its
own signed ones though it was never linked to the relay; an honest neighbour's old signed notice
replayed; and, placed as the relay's neighbour, its signed notices at a seq above what it heard (the
relay's next, or 2**52). The relay the honest nodes agree on moves at most once (the first such
notice, taken back by the relay's next records), then never (the signer is not heard again).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from meshpos.sync import Synchronizer
from meshpos.sync._gone_words import notice_body
from meshpos.sync._held_signed import SignedHeld
from meshpos.sync._messages import FarRecord, Heartbeat
from meshpos.sync._session import Session
from meshpos.trust.authority import VenueAuthority, init_venue
from meshpos.trust.device_word import DeviceWordSigner
from tests.sync.helpers import VENUE
from tests.sync.signed_bed import keyed
from tests.sync.test_sync_topology import CONFIG, DOC, Venue

VICTIM = "R003"
HUGE_SEQ = 2**52
FORGER = "R900"


class Forger(Synchronizer):
    """An enrolled register whose every beat says ``target`` is gone, as of ``seq`` (a far future
    beat unless told), after a far record of it with that seq when ``forge_record``."""

    target = VICTIM
    seq = HUGE_SEQ
    forge_record = False

    def _addressed(self, beat: Heartbeat, session: Session) -> Heartbeat:
        beat = super()._addressed(beat, session)
        far = beat.far
        if self.forge_record:  # the victim's "own" record, newer than anything it said
            record = FarRecord(self.target, "register", 1, False, False, self.seq)
            far = (*far[:1], record, *(r for r in far[1:] if r.node != self.target))
        return replace(beat, far=far[:8], gone={self.target: self.seq})


def _venue_with(forger: Forger, n: int = 8) -> Venue:
    venue = Venue(n)
    venue.settle(8.0)
    honest = [name for name in venue.net.nodes if name != forger.target]
    assert all(forger.target in venue.net.nodes[name].presence for name in honest)
    forger.open_doc(DOC)
    venue.net.add(forger)
    return venue


def _blind(venue: Venue, victim: str) -> list[str]:
    """The honest nodes that leave ``victim`` out of their presence (the "n" of the durability)."""
    return sorted(
        name
        for name, sync in venue.net.nodes.items()
        if name not in (victim, FORGER) and victim not in sync.presence
    )


def _watch(venue: Venue, victim: str, seconds: float) -> None:
    """Advance ``seconds`` of simulated time, checking after every step that nobody lost ``victim``
    (over two anti-entropy periods: the victim's refutations have gone round)."""
    end = venue.net.now + seconds
    while venue.net.now < end:
        venue.net.advance(0.05, step=0.05)
        blind = _blind(venue, victim)
        assert blind == [], f"{victim} is gone to {blind} at {venue.net.now:.2f} s while it beats"


def test_a_forged_gone_notice_does_not_hide_a_live_register() -> None:
    forger = Forger(venue=VENUE, node_id=FORGER, role="register", client_id=99, config=CONFIG)
    venue = _venue_with(forger)
    _watch(venue, VICTIM, 12.0)
    # the marks are taken back by the victim's own records: it is a member again where it was seen
    # last (the forger's latest notice may be in flight)
    members = [n for n, s in venue.net.nodes.items() if n not in (VICTIM, FORGER)]
    assert sum(VICTIM in venue.net.nodes[n].members for n in members) >= len(members) // 2


def test_a_forged_far_record_with_a_huge_seq_then_a_notice_does_not_hide_it() -> None:
    """The forger first makes the victim's own records look old (its record, seq 2**52, in every
    beat), then names it gone as of that seq: the victim is still counted everywhere, for longer
    than its record's timeout (when the forged record, never refreshed, is dropped)."""
    forger = Forger(venue=VENUE, node_id=FORGER, role="register", client_id=99, config=CONFIG)
    forger.forge_record = True
    venue = _venue_with(forger)
    _watch(venue, VICTIM, 25.0)


def _relays(venue: Venue, forger: str = FORGER) -> set[str | None]:
    """The relays the honest nodes see (one when they agree)."""
    return {s.relay for name, s in venue.net.nodes.items() if name != forger}


class Tracking(Forger):
    """Names its ``target`` gone as of the target's next seq (what a forger learns, every beat)."""

    def _addressed(self, beat: Heartbeat, session: Session) -> Heartbeat:
        seq = self._far.seq(self.target)
        self.seq = seq + 1 if seq is not None else HUGE_SEQ
        return super()._addressed(beat, session)


def _relay_named(venue_seconds: float) -> tuple[Venue, str]:
    probe = Venue(8)
    probe.settle(8.0)
    relay = probe.agreed_relay()
    assert relay is not None
    forger = Tracking(venue=VENUE, node_id=FORGER, role="register", client_id=99, config=CONFIG)
    forger.target = relay
    venue = _venue_with(forger)
    _watch(venue, relay, venue_seconds)
    return venue, relay


def test_notices_naming_the_relay_never_take_it_out_of_the_count() -> None:
    """The forger names the relay gone, as of the relay's next seq, in every beat: the relay is
    never left out of the count."""
    _relay_named(12.0)


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> VenueAuthority:
    return init_venue(tmp_path_factory.mktemp("venue") / "venue", "Cafe", VENUE)


class Signing(Tracking):
    """An enrolled device (its own key of the venue CA) that names its ``target`` gone in every
    beat: unsigned as of the target's next seq, and with ``notices(seq)``'s signed ones."""

    ahead = 1  # the signed notices' seq: the target's seq here + ``ahead``
    replayed: tuple[SignedHeld, ...] = ()  # someone else's old signed notices, passed on

    def _addressed(self, beat: Heartbeat, session: Session) -> Heartbeat:
        beat = super()._addressed(beat, session)
        signer = self.config.held_signer
        assert signer is not None
        seq = self._far.seq(self.target)
        forged = () if seq is None else (signer(self._body(seq + self.ahead)),)
        return replace(beat, gones=(*self.replayed, *(n for n in forged if n is not None)))

    def _body(self, seq: int) -> str:
        return notice_body(self.target, self.node_id, min(seq, HUGE_SEQ), VENUE)


def _keyed_venue(authority: VenueAuthority, forger: Tracking) -> tuple[Venue, str]:
    """Eight keyed registers settled, their relay, and ``forger`` (keyed) named after it, added."""
    venue = Venue(8)
    for sync in venue.net.nodes.values():
        keyed(sync, authority)
    venue.settle(8.0)
    relay = venue.agreed_relay()
    assert relay is not None
    keyed(forger, authority)
    forger.target = relay
    forger.open_doc(DOC)
    venue.net.add(forger)
    return venue, relay


def _never_moves(venue: Venue, relay: str, seconds: float, forger: str = FORGER) -> None:
    """Every 50 ms for ``seconds``: every honest node follows ``relay``."""
    end = venue.net.now + seconds
    while venue.net.now < end:
        venue.net.advance(0.05, step=0.05)
        seen = _relays(venue, forger)
        assert seen == {relay}, f"relays {seen} at {venue.net.now:.2f} s"


def _forger(node_id: str = FORGER) -> Tracking:
    return Tracking(venue=VENUE, node_id=node_id, role="register", client_id=99, config=CONFIG)


def _signing(node_id: str = FORGER) -> Signing:
    return Signing(venue=VENUE, node_id=node_id, role="register", client_id=99, config=CONFIG)


def test_notices_naming_the_relay_force_no_re_election(authority: VenueAuthority) -> None:
    """Unsigned notices naming the relay as of its next seq, every beat, move no election on nodes
    that check devices' words (every real node)."""
    venue, relay = _keyed_venue(authority, _forger())
    _never_moves(venue, relay, 6.0)


def test_a_notice_signed_by_a_node_never_linked_to_the_relay_moves_nothing(
    authority: VenueAuthority,
) -> None:
    """The forger signs, with its own real key, that it lost its link to the relay (it never had
    one: it is no neighbour of the relay in anyone's view: its id sorts far from the relay's on the
    ring, R900 would sort next to R001)."""
    forger = _signing("R005a")
    venue, relay = _keyed_venue(authority, forger)
    assert relay == "R001"
    _never_moves(venue, relay, 6.0, forger.node_id)
    refused = sum(
        s.claim_refusals.counts.get("gone_not_linked", 0) for s in venue.net.nodes.values()
    )
    assert refused > 0  # (the signed notices did arrive, and were refused for that)


def test_a_replayed_old_signed_notice_moves_nothing(authority: VenueAuthority) -> None:
    """A neighbour of the relay really signed, a while ago, that it lost its link (the bytes it
    sent then); the forger passes those bytes on in every beat."""
    forger = _signing()
    venue, relay = _keyed_venue(authority, forger)
    neighbour = next(
        n for n, s in venue.net.nodes.items() if n not in (relay, FORGER) and s._linked_to(relay)
    )
    old = venue.net.nodes[neighbour]._far.seq(relay)
    assert old is not None
    signer = venue.net.nodes[neighbour].config.held_signer
    assert isinstance(signer, DeviceWordSigner)
    venue.net.advance(2.0, step=0.05)  # the relay beats on: that notice is old now
    forger.replayed = (signer(notice_body(relay, neighbour, old, VENUE)),)
    forger.ahead = -1000  # (and its own notices stale too: only the replay counts)
    _never_moves(venue, relay, 6.0)


@pytest.mark.parametrize("ahead", [1, HUGE_SEQ])
def test_signed_notices_of_a_neighbour_above_what_it_heard_move_the_election_once(
    authority: VenueAuthority, ahead: int
) -> None:
    """The forger is the relay's neighbour on the ring (its id sorts next to it), so its signed
    notices come from a node linked to the relay, at the relay's next seq or 2**52 (above what it
    heard), in every beat. The relay's next records take the first back: the honest nodes may
    follow another relay for a heartbeat or two, then never again."""
    forger = _signing("R0010")  # (R001 the relay: the ring's next id)
    forger.ahead = ahead
    venue, relay = _keyed_venue(authority, forger)
    assert relay == "R001"
    name = forger.node_id

    def taken_back() -> bool:  # (a node took its notice, and the relay's records took it back)
        now = venue.net.now
        return any(s.notices.distrusted(name, relay, now) for s in venue.net.nodes.values())

    venue.until(taken_back, limit=4.0)
    venue.until(lambda: _relays(venue, name) == {relay}, limit=2.0)
    _never_moves(venue, relay, 8.0, name)


def test_a_forged_far_record_of_the_relay_still_moves_the_election(
    authority: VenueAuthority,
) -> None:
    forger = _forger()
    forger.forge_record = True  # (its record of the relay: seq next, no uplink, no relay claim)
    venue, relay = _keyed_venue(authority, forger)
    _never_moves(venue, relay, 6.0)
