"""Anti-entropy by digest (issue 18, ``sync/_digest``): one digest per link per period, a sync step 1 only
for the documents whose hash differs; a difference no update carried still converges within one period."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Map

from meshpos.errors import RemoteProtocolError
from meshpos.sync import Hello, PeerClosed, Synchronizer
from meshpos.sync._codec import decode, encode, messages_in
from meshpos.sync._digest import DIGEST_FEATURE, HASH_BYTES, doc_hash
from meshpos.sync._features import FEATURES
from meshpos.sync._messages import Digest, Message, SyncStep1

from .helpers import VENUE, pump, sync_pair
from .test_sync_synchronizer import KITCHEN, LEDGER, node, raw_peer, records, write

PERIOD = 5.0


def _run_period(a: Synchronizer, ka: str, b: Synchronizer, kb: str, start: float) -> list[Message]:
    """Tick both through one anti-entropy period, delivering everything; the messages that went by."""
    seen: list[Message] = []
    for step in range(1, int(PERIOD) + 1):
        now = start + step
        a.tick(now)
        b.tick(now)
        while True:
            moved = False
            for src, skey, dst, dkey in ((a, ka, b, kb), (b, kb, a, ka)):
                for data in src.data_to_send(skey):
                    moved = True
                    if data:
                        seen.extend(decode(m) for m in messages_in(data))
                        dst.receive_data(dkey, data)
            if not moved:
                break
    return seen


def _pair() -> tuple[Synchronizer, str, Synchronizer, str]:
    a, b = node("r1", anti_entropy_interval=PERIOD), node("r2", anti_entropy_interval=PERIOD)
    ka, kb = sync_pair(a, b, features=FEATURES)
    return a, ka, b, kb


def test_an_idle_pair_in_sync_exchanges_digests_and_no_step_1() -> None:
    a, ka, b, kb = _pair()
    write(a, LEDGER, "p1")
    pump(a, ka, b, kb)
    seen = _run_period(a, ka, b, kb, 0.0)
    digests = [m for m in seen if isinstance(m, Digest)]
    assert len(digests) == 2  # one each way
    assert [name for name, _ in digests[0].hashes] == [LEDGER]
    assert not [m for m in seen if isinstance(m, SyncStep1)]


def test_a_peer_without_the_feature_still_gets_step_1s() -> None:
    a, b = node("r1", anti_entropy_interval=PERIOD), node("r2", anti_entropy_interval=PERIOD)
    ka, kb = sync_pair(a, b, features=FEATURES - {DIGEST_FEATURE})
    write(a, LEDGER, "p1")
    pump(a, ka, b, kb)
    seen = _run_period(a, ka, b, kb, 0.0)
    assert not [m for m in seen if isinstance(m, Digest)]
    assert [m for m in seen if isinstance(m, SyncStep1)]


@pytest.mark.parametrize("doc", [LEDGER, KITCHEN])
def test_an_update_lost_on_the_way_converges_within_one_period(doc: str) -> None:
    a, ka, b, kb = _pair()
    write(a, doc, "p0")
    _run_period(a, ka, b, kb, 0.0)  # in sync, the initial exchange's replies all sent
    write(a, doc, "p1")
    assert a.data_to_send(ka)  # the network loses it; nothing later carries it
    seen = _run_period(a, ka, b, kb, PERIOD)
    assert records(b, doc) == records(a, doc) == {"p0": {"amount": 500.0}, "p1": {"amount": 500.0}}
    assert doc_hash(a.docs[doc]) == doc_hash(b.docs[doc])
    assert [m.doc for m in seen if isinstance(m, SyncStep1)] == [doc, doc]  # asked both ways


def test_a_lost_deletion_converges_within_one_period() -> None:
    """A deletion does not move the state vector: the hash covers the delete set too."""
    a, ka, b, kb = _pair()
    write(a, LEDGER, "p0")
    write(a, LEDGER, "p1")
    _run_period(a, ka, b, kb, 0.0)  # in sync, the initial exchange's replies all sent
    del a.docs[LEDGER].get("payments", type=Map)["p1"]
    assert a.data_to_send(ka)  # lost
    assert a.docs[LEDGER].get_state() == b.docs[LEDGER].get_state()
    assert doc_hash(a.docs[LEDGER]) != doc_hash(b.docs[LEDGER])
    seen = _run_period(a, ka, b, kb, PERIOD)
    assert records(b, LEDGER) == records(a, LEDGER) == {"p0": {"amount": 500.0}}
    # the clocks agree, so only the digests show it: each side asks with its step 1
    assert [m.doc for m in seen if isinstance(m, SyncStep1)] == [LEDGER, LEDGER]


def test_a_digest_round_trips() -> None:
    digest = Digest(((LEDGER, bytes(range(HASH_BYTES))), ("catalog", b"\xff" * HASH_BYTES)))
    assert decode(encode(digest)) == digest
    assert decode(encode(Digest(()))) == Digest(())


NAME = bytes([len(LEDGER)]) + LEDGER.encode()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x07", "digest count"),
        (b"\x07\x01", "cannot fit"),
        (b"\x07\x7f" + NAME + b"\x00" * HASH_BYTES, "cannot fit"),
        (b"\x07\x01\x07unknown" + b"\x00" * HASH_BYTES, "not a known document"),
        (b"\x07\x01" + NAME + b"\x00" * (HASH_BYTES - 1), "cut short"),
        (b"\x07\x02" + (NAME + b"\x00" * HASH_BYTES) * 2, "listed twice"),
        (b"\x07\x01" + NAME + b"\x00" * (HASH_BYTES + 1), "trailing"),
    ],
)
def test_a_malformed_digest_is_named(data: bytes, words: str) -> None:
    with pytest.raises(RemoteProtocolError, match=words):
        decode(data)


def test_a_malformed_digest_closes_the_session_and_changes_nothing() -> None:
    reg = node("r1")
    write(reg, LEDGER, "p1")
    before = reg.docs[LEDGER].get_update()
    _, key = raw_peer(reg, Hello(VENUE, "r2", "register", "x", 888))
    reg.events_received()
    reg.receive_data(key, b"\x07\x02" + (NAME + b"\x00" * HASH_BYTES) * 2)
    [closed] = [e for e in reg.events_received() if isinstance(e, PeerClosed)]
    assert "digest: document" in closed.reason
    assert "listed twice" in closed.reason
    assert reg.docs[LEDGER].get_update() == before


def test_the_hash_is_the_same_for_the_same_content_however_it_arrived() -> None:
    a, b = node("r1"), node("r2")
    write(a, LEDGER, "p1")
    write(b, LEDGER, "p2")
    docs: list[Any] = [a.docs[LEDGER], b.docs[LEDGER]]
    first, second = docs[0].get_update(), docs[1].get_update()
    docs[0].apply_update(second)
    docs[1].apply_update(first)
    assert doc_hash(docs[0]) == doc_hash(docs[1])
