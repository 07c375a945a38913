"""A stalled node's own signed word that it did not run (issue 18, the twenty-second session, part
``stallword``: sync/_stalls.py, sync/_stall_words.py).

A node whose loop stopped for seconds was truly silent: its neighbours signed it gone, and its next
records took their notices back as lies, each signer distrusted about it for 5 minutes (on main:
547 and 757 ``gone_taken_back`` refusals in the seeded 50-device stall bed). Now the node signs that
it did not run after its last record, and a mark at that record's seq taken back is no lie. Real
``Synchronizer`` objects on the in-memory network, each keyed by a real venue CA (every real node
is), simulated time. What a forger still cannot do: have a notice about a live node excused (at any
other seq, or by its own stall word), pass on a stall word its node did not sign, or get one past an
N−1 peer.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from meshpos.errors import RemoteProtocolError
from meshpos.sync import Synchronizer
from meshpos.sync._bodies import decode_heartbeat, heartbeat_body
from meshpos.sync._features import FEATURES
from meshpos.sync._gone_words import notice_body
from meshpos.sync._held_signed import SignedHeld, word_kind
from meshpos.sync._messages import FarRecord, Heartbeat
from meshpos.sync._stall_words import (
    MAX_STALLS,
    STALL_SIGNED_FEATURE,
    StallSignatureRefused,
    decode_stall,
    stall_body,
)
from meshpos.trust.authority import VenueAuthority, init_venue
from meshpos.trust.device_word import DeviceWordSigner

from .helpers import VENUE
from .signed_bed import keyed
from .test_sync_held_signed import identity
from .test_sync_stalls import Bed
from .test_sync_topology import CONFIG, DOC

STALLED = "R005"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> VenueAuthority:
    return init_venue(tmp_path_factory.mktemp("venue") / "venue", "Cafe", VENUE)


def _distrusted(bed: Bed, node: str) -> list[tuple[str, str]]:
    """(who, signer) of every signer distrusted about ``node``, on any node of the bed."""
    return [
        (name, by)
        for name, sync in bed.net.nodes.items()
        for by, of in sync.notices._distrusted
        if of == node
    ]


def _stall(bed: Bed, seconds: float = 5.0) -> int:
    """Stall ``STALLED`` past its peers' timeout, run on till every mark of it is gone; the seq of
    its last record before the stall."""
    seq = bed.net.nodes[STALLED]._far_seq()
    bed.net.stall(STALLED, seconds)
    bed.net.advance(seconds + 4.0)
    return seq


def test_a_stalled_nodes_neighbours_that_signed_it_gone_are_not_taken_for_liars(
    authority: VenueAuthority,
) -> None:
    """On main every far node that took a neighbour's (true) notice distrusted its signer once the
    stalled node's next records came: the list below was not empty."""
    bed = Bed(authority, 12)
    seq = _stall(bed)
    took = {who for _, who, of in bed.gone if of == STALLED}
    signers = sum(bed.net.nodes[n].notices.signed for n in bed.net.nodes if n != STALLED)
    assert signers > 0, "nobody signed the stalled node gone: no test"
    assert took - {STALLED}, "nobody found the stalled node gone: no test"
    assert _distrusted(bed, STALLED) == []
    assert bed.refused() == 0
    words = bed.net.nodes[STALLED].stall_words
    assert words.signed == 1
    assert (STALLED, seq) in words.after
    assert sum(s.stall_words.excused for s in bed.nodes) > 0  # (the marks it took back)
    assert not any(s._far.marked(STALLED) for s in bed.nodes)  # alive again everywhere


def test_a_notice_about_a_live_node_is_still_a_lie_after_it_stalled(
    authority: VenueAuthority,
) -> None:
    """The stall word names one seq: a neighbour that signs the node gone at another (it runs)
    is taken back and distrusted as before, and so is one excused by a stall word of its own
    (a word excuses notices about its own node only)."""
    bed = Bed(authority, 12)
    stalled_seq = _stall(bed)
    node = bed.net.nodes[STALLED]
    liar = next(s for s in bed.nodes if s.node_id != STALLED and s._linked_to(STALLED))
    now = bed.net.now
    seq = liar._far.seq(STALLED)
    assert seq is not None
    assert seq > stalled_seq
    # the liar signs that it stalled after that seq too (its own word: its key, its name)
    liar.stall_words.keep(
        _signed(authority, liar.node_id, stall_body(liar.node_id, seq, 3000, VENUE)),
        liar.node_id,
        seq,
        now,
    )
    liar._sign_notice(STALLED, seq, now)
    liar._trigger = True
    bed.net.advance(4.0)
    assert {by for _, by in _distrusted(bed, STALLED)} == {liar.node_id}
    assert not any(s._far.marked(STALLED) for s in bed.nodes)
    assert node.stall_words.signed == 1


def _signed(authority: VenueAuthority, signer: str, body: str) -> SignedHeld:
    signed = DeviceWordSigner(identity(authority, signer))(body)
    assert signed is not None
    return signed


def _node(authority: VenueAuthority, name: str = "R001") -> Synchronizer:
    sync = Synchronizer(venue=VENUE, node_id=name, role="register", client_id=7, config=CONFIG)
    keyed(sync, authority)
    sync.open_doc(DOC)
    return sync


@pytest.mark.parametrize("how", ["signer", "body", "venue", "garbage"])
def test_a_bad_stall_word_closes_the_session_and_changes_nothing_of_the_beat(
    authority: VenueAuthority, tmp_path: object, how: str
) -> None:
    """A forger cannot excuse its notices about a live node with a word in that node's name, nor
    change an honest word on its way (the seq it names): the session closes, nothing is taken."""
    genuine = _signed(authority, "R003", stall_body("R003", 5, 3000, VENUE))
    if how == "signer":  # R004's real key, a stall in R003's name
        bad = _signed(authority, "R004", stall_body("R003", 5, 3000, VENUE))
    elif how == "body":  # the seq changed on the way
        bad = replace(genuine, body=genuine.body.replace('"after":5', '"after":6'))
    elif how == "venue":
        bad = _signed(authority, "R003", stall_body("R003", 5, 3000, "elsewhere"))
    else:
        bad = replace(genuine, sig="bm90IGEgc2lnbmF0dXJl")
    sync = _node(authority)
    record = FarRecord("R005", "register", 1, True, True, 9)
    beat = Heartbeat("R002", "register", 1, False, False, 3, far=(record,), stalls=(genuine, bad))
    with pytest.raises(StallSignatureRefused, match="signed stall word"):
        sync._on_heartbeat(beat)
    assert sync.presence == {}  # (neither the sender nor its far record)
    assert sync.stall_words.after == {}
    assert sync.stall_words.out == {}


def test_a_genuine_stall_word_is_taken_once_and_passed_on(authority: VenueAuthority) -> None:
    sync = _node(authority)
    word = _signed(authority, "R003", stall_body("R003", 5, 3000, VENUE))
    beat = Heartbeat("R002", "register", 1, False, False, 3, stalls=(word,))
    sync._on_heartbeat(beat)
    sync._on_heartbeat(replace(beat, seq=4))
    assert sync.stall_words.taken == 1
    assert sync._stalled_after("R003", 5)
    assert sync._stalled_after("R003", 4)  # (a beat the stall cut half-sent: STALL_SEQ_SLACK)
    assert not sync._stalled_after("R003", 6)
    assert not sync._stalled_after("R003", 3)
    assert not sync._stalled_after("R002", 5)  # (a word excuses its own node only)
    assert sync._stalls_out(0.0) == (word,)
    assert sync._stalls_out(10.0) == ()  # (three beats, as gone notices)


@pytest.mark.parametrize("features", [FEATURES, FEATURES - {STALL_SIGNED_FEATURE}])
def test_stalls_round_trip_and_are_gated(
    authority: VenueAuthority, features: frozenset[str]
) -> None:
    """An N−1 peer (no ``stalls1``) is never sent the field: it would refuse an unknown one."""
    word = _signed(authority, "R002", stall_body("R002", 5, 3000, VENUE))
    beat = Heartbeat("R2", "register", 1, False, False, 3, stalls=(word,))
    body = heartbeat_body(beat, features)
    assert (b'"stalls"' in body) == (STALL_SIGNED_FEATURE in features)
    assert decode_heartbeat(body).stalls == ((word,) if STALL_SIGNED_FEATURE in features else ())


def test_malformed_stall_words_are_refused_naming_the_field(authority: VenueAuthority) -> None:
    signed = _signed(authority, "R002", stall_body("R002", 5, 3000, VENUE))
    good = {"b": signed.body, "c": signed.cert, "s": signed.sig}
    base = json.loads(
        heartbeat_body(Heartbeat("R2", "register", 1, False, False, 3), FEATURES).decode()
    )
    for bad in ([], [good] * (MAX_STALLS + 1), [{"b": signed.body, "s": signed.sig}], [1]):
        with pytest.raises(RemoteProtocolError, match="field 'stalls'"):
            decode_heartbeat(json.dumps({**base, "stalls": bad}).encode())
    for body in (
        notice_body("R003", "R002", 5, VENUE),
        stall_body("R002", 5, 0, VENUE),
        stall_body("R002", -1, 3000, VENUE),
        '{"after":5,"ms":true,"stalled":"R002","venue":"v"}',
    ):
        with pytest.raises(StallSignatureRefused, match="signed stall word"):
            decode_stall(body)
    assert word_kind(signed.body) == "signed stall word"


def test_a_signer_distrusted_before_the_word_came_is_forgiven_at_that_seq_only(
    authority: VenueAuthority,
) -> None:
    """A word that comes after the records that took the mark back (it was held up on the way, or
    they came by a faster path) forgives the signers of a mark at its seq, no other."""
    sync = _node(authority)
    sync.notices.distrust("R002", "R003", 5, 0.0)  # (its mark at 5: the stall's)
    sync.notices.distrust("R004", "R003", 9, 0.0)  # (at 9: the node ran then)
    sync.notices.distrust("R007", "R003", 3, 0.0)  # (at 3: two records before it)
    word = _signed(authority, "R003", stall_body("R003", 5, 3000, VENUE))
    sync._on_heartbeat(Heartbeat("R006", "register", 1, False, False, 3, stalls=(word,)))
    assert not sync.notices.distrusted("R002", "R003", 1.0)
    assert sync.notices.distrusted("R004", "R003", 1.0)
    assert sync.notices.distrusted("R007", "R003", 1.0)
    assert sync.stall_words.forgiven == 1
