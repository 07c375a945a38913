"""What a received update costs a node, counted (issue 18, receive): work that cannot change the document
is not done. Driven by hand (no network, no sleeps); the counts are of calls, not of time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pycrdt import Doc, Map, merge_updates

from meshpos.errors import RemoteProtocolError
from meshpos.sync import DocumentChanged, Synchronizer, SyncStep2, SyncUpdate, UpdateRejected
from meshpos.sync import _codec as codec
from meshpos.sync import _exchange as exchange
from meshpos.sync import _order_notes as order_notes
from meshpos.sync import _updates as updates
from tests.sync.helpers import VENUE, pump, sync_pair

DOC = "stoplist"


def node(name: str) -> Synchronizer:
    sync = Synchronizer(
        venue=VENUE, node_id=name, role="register", client_id=1000 + sum(map(ord, name))
    )
    sync.open_doc(DOC)
    sync.events_received()
    return sync


def counting_applies(monkeypatch: pytest.MonkeyPatch, doc: Doc[Any]) -> list[bytes]:
    applied: list[bytes] = []
    apply = doc.apply_update

    def counted(update: bytes) -> None:
        applied.append(update)
        apply(update)

    monkeypatch.setattr(doc, "apply_update", counted)
    return applied


def counting_hole_looks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    looks: list[tuple[Any, ...]] = []
    look = updates.past_holes

    def counted(*args: Any, **kwargs: Any) -> dict[int, bytes]:
        looks.append(args)
        return look(*args, **kwargs)

    monkeypatch.setattr(order_notes, "past_holes", counted)  # (where the looks are made)
    return looks


def test_a_copy_of_an_update_taken_whole_is_not_applied_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """X hears one write from two peers (a flood while views differ): the first copy is applied, the
    second is dropped before pycrdt decodes it, and no look for structs past a hole is made."""
    x, p, q = node("X"), node("P"), node("Q")
    xp, px = sync_pair(x, p)
    xq, qx = sync_pair(x, q)
    author: Doc[Any] = Doc(client_id=4242)
    author.get("items", type=Map)["espresso"] = "out"
    update = author.get_update()
    applied = counting_applies(monkeypatch, x.docs[DOC])
    looks = counting_hole_looks(monkeypatch)
    for sender in (p, q):  # each passes the same bytes on, as a forwarding node does
        sender.docs[DOC].apply_update(update)
    pump(p, px, x, xp)
    pump(q, qx, x, xq)
    assert x.docs[DOC].get("items", type=Map).to_py() == {"espresso": "out"}
    assert applied == [update]
    assert looks == []
    changes = [e for e in x.events_received() if isinstance(e, DocumentChanged)]
    assert len(changes) == 1  # committed once


def test_an_echo_of_our_own_write_is_not_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    x, p = node("X"), node("P")
    xp, px = sync_pair(x, p)
    x.docs[DOC].get("items", type=Map)["fries"] = "out"
    mine = [e for e in x.events_received() if isinstance(e, DocumentChanged)]
    pump(x, xp, p, px)
    applied = counting_applies(monkeypatch, x.docs[DOC])
    p.sessions[px].send(SyncUpdate(DOC, mine[0].update))
    pump(p, px, x, xp)
    assert applied == []
    assert not [e for e in x.events_received() if isinstance(e, UpdateRejected)]


def test_a_copy_is_applied_again_once_the_document_was_dropped() -> None:
    """What a document took is forgotten with it: after ``drop_doc`` the same bytes are content."""
    x, p = node("X"), node("P")
    xp, px = sync_pair(x, p)
    author: Doc[Any] = Doc(client_id=4242)
    author.get("items", type=Map)["burger"] = "out"
    update = author.get_update()
    p.docs[DOC].apply_update(update)
    pump(p, px, x, xp)
    x.drop_doc(DOC)
    x.open_doc(DOC)
    p.docs[DOC].apply_update(update)  # nothing new for P: sent again by hand
    p.sessions[px].send(SyncUpdate(DOC, update))
    pump(p, px, x, xp)
    assert x.docs[DOC].get("items", type=Map).to_py() == {"burger": "out"}


def two_authors() -> tuple[Doc[Any], Doc[Any]]:
    first: Doc[Any] = Doc(client_id=4242)
    first.get("items", type=Map)["espresso"] = "out"
    second: Doc[Any] = Doc(client_id=5353)
    second.apply_update(first.get_update())
    second.get("items", type=Map)["fries"] = "out"
    return first, second


def test_a_reply_of_several_authors_that_brings_nothing_new_is_not_looked_at(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Anti-entropy meets updates in flight: the step 2 carries, again, what X took meanwhile. X
    applies it (its deletions count) but looks for no structs past a hole and notes no reordering
    (which would make the status count the day again)."""
    x, p = node("X"), node("P")
    xp, px = sync_pair(x, p)
    _, both = two_authors()
    x.docs[DOC].apply_update(both.get_update())
    pump(x, xp, p, px)  # (P takes it too)
    looks = counting_hole_looks(monkeypatch)
    p.sessions[px].send(SyncStep2(DOC, both.get_update()))
    pump(p, px, x, xp)
    assert looks == []
    assert x.reordered(DOC) is None
    assert x.docs[DOC].get("items", type=Map).to_py() == {"espresso": "out", "fries": "out"}


def test_a_reply_of_several_authors_is_looked_at_for_the_one_that_brings_something(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x, p = node("X"), node("P")
    xp, px = sync_pair(x, p)
    first, both = two_authors()
    x.docs[DOC].apply_update(first.get_update())  # X lacks the second author's write only
    pump(x, xp, p, px)
    looks = counting_hole_looks(monkeypatch)
    p.sessions[px].send(SyncStep2(DOC, both.get_update()))
    pump(p, px, x, xp)
    assert [args[1] for args in looks] == [frozenset({5353})]  # not every author of the day
    assert looks[0][0] is x.docs[DOC]
    assert x.reordered(DOC) is None  # in its author's order
    assert x.docs[DOC].get("items", type=Map).to_py() == {"espresso": "out", "fries": "out"}


def test_one_authors_update_that_brings_nothing_new_is_not_looked_at(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A copy in other bytes (the author's two writes as one update, as a step 2 carries them) is
    applied (its deletions would count) but not looked at for structs past a hole."""
    x, p = node("X"), node("P")
    xp, px = sync_pair(x, p)
    author: Doc[Any] = Doc(client_id=4242)
    writes = []
    for key in ("espresso", "fries"):
        before = author.get_state()
        author.get("items", type=Map)[key] = "out"
        writes.append(author.get_update(before))
    for update in writes:
        p.sessions[px].send(SyncUpdate(DOC, update))
    pump(p, px, x, xp)
    looks = counting_hole_looks(monkeypatch)
    p.sessions[px].send(SyncStep2(DOC, author.get_update()))
    pump(p, px, x, xp)
    assert looks == []
    assert x.docs[DOC].get("items", type=Map).to_py() == {"espresso": "out", "fries": "out"}


def test_an_update_taken_whole_with_a_skips_byte_but_no_skip_is_not_looked_at(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A live update taken whole that holds the byte of a skip struct (10: a string of 10 characters'
    length, a client id's byte, ...) but no skip brings nothing past the document's state: it is not
    looked at for structs past a hole (a third of a 6-device mesh's received updates were)."""
    x, p = node("X"), node("P")
    xp, px = sync_pair(x, p)
    x.events_received()
    looks = counting_hole_looks(monkeypatch)
    p.docs[DOC].get("items", type=Map)["espresso"] = "0123456789"  # a length of 10: byte 10
    sent = [e.update for e in p.events_received() if isinstance(e, DocumentChanged)]
    assert len(sent) == 1
    assert exchange.SKIP_INFO in sent[0]
    pump(p, px, x, xp)
    changes = [e.update for e in x.events_received() if isinstance(e, DocumentChanged)]
    assert changes == sent  # taken whole
    assert looks == []
    assert x.docs[DOC].get("items", type=Map).to_py() == {"espresso": "0123456789"}


def test_an_update_taken_whole_with_a_skip_is_noted_past_its_hole() -> None:
    """The other side of the test above: an update in order, then a skip, then more (an author's first
    and third writes merged) is taken whole and what lies past the skip is noted, so a count of the
    document is due after every change until the hole fills (``reordered``)."""
    x, p = node("X"), node("P")
    xp, px = sync_pair(x, p)
    x.events_received()
    author: Doc[Any] = Doc(client_id=4242)
    writes = []
    for key in ("espresso", "fries", "burger"):
        before = author.get_state()
        author.get("items", type=Map)[key] = "out"
        writes.append(author.get_update(before))
    merged = merge_updates(writes[0], writes[2])
    p.sessions[px].send(SyncUpdate(DOC, merged))
    pump(p, px, x, xp)
    changes = [e.update for e in x.events_received() if isinstance(e, DocumentChanged)]
    assert changes == [merged]  # taken whole
    assert x.reordered(DOC) is False  # noted: a hole in 4242's clocks
    p.sessions[px].send(SyncUpdate(DOC, writes[1]))
    pump(p, px, x, xp)
    assert x.docs[DOC].get("items", type=Map).to_py() == dict.fromkeys(
        ("espresso", "fries", "burger"), "out"
    )


def test_a_doc_message_reads_the_same_through_the_short_path() -> None:
    """An update of a document named before skips the general reader (``_codec._doc_update``): what
    it returns, or the error it names, is the general reader's, for well-formed messages and for
    bytes flipped, cut and appended."""

    def read(data: bytes, *, short: bool) -> object:
        saved = dict(codec._NAMES)
        if not short:
            codec._NAMES.clear()
        try:
            return codec.decode(data)
        except RemoteProtocolError as exc:
            return exc.message
        finally:
            codec._NAMES.clear()
            codec._NAMES.update(saved)

    big = bytes(range(256)) * 600  # a three-byte length
    samples = [
        codec.encode(message)
        for message in (
            SyncUpdate(DOC, b"\x01\x02\x03"),
            SyncStep2("ledger/2026-03-01", b"\x00\x00"),
            SyncUpdate(DOC, big),
            SyncUpdate(DOC, b""),
        )
    ]
    # names seen, from none: the reader keeps at most _MAX_NAMES, and the process's earlier tests (an
    # xdist worker runs many) may have filled them, so the short path never learnt these (failed in CI)
    before = dict(codec._NAMES)
    codec._NAMES.clear()
    try:
        _the_short_path_reads_as_the_general_one(samples, read)
    finally:
        codec._NAMES.clear()
        codec._NAMES.update(before)


def _the_short_path_reads_as_the_general_one(
    samples: list[bytes], read: Callable[..., object]
) -> None:
    codec.decode(codec.encode(SyncUpdate("ledger/2026-03-01", b"\x00\x00")))
    codec.decode(samples[0])
    assert all(codec._doc_update(data) is not None for data in samples)  # the short path reads them
    variants = list(samples)
    for data in samples[:2]:
        variants += [data[:cut] for cut in range(len(data))]
        variants += [data + b"\x00", data[:-1] + b"\x80"]
        variants += [
            data[:i] + bytes([data[i] ^ bit]) + data[i + 1 :]
            for i in range(len(data))
            for bit in (1, 0x80)
        ]
    overlong = samples[0][: 2 + len(DOC) + 2] + b"\x83\x00" + b"\x01\x02\x03"
    variants.append(overlong)
    for data in variants:
        assert read(data, short=True) == read(data, short=False), data
