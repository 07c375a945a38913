"""The storage contract, run against MemoryStore and SqliteStore alike (automerge-repo style)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pycrdt
import pytest

from meshpos.engine import StoreDocuments
from meshpos.errors import StoreClosed, StoreError
from meshpos.model.replica import decode_state_vector
from meshpos.store import EMPTY_UPDATE, Store
from meshpos.store.base import fold

from .store_helpers import OpenStore, Recorder, content, snapshot

DAY = "ledger/2026-03-01"


async def test_unknown_document_loads_as_none(store: Store) -> None:
    assert await store.load("ledger/2026-11-25") is None
    assert await store.documents(include_closed=True) == []
    assert await store.get_meta("seq/R1") is None


async def test_load_rebuilds_the_same_document(store: Store) -> None:
    rec = Recorder()
    for i in range(5):
        await store.append([("catalog", rec.set(f"k{i}", {"price": i * 100, "name": f"p{i}"}))])
    assert content(await store.load("catalog")) == snapshot(rec.doc)
    assert (await store.documents())[0].log_rows == 5


async def test_one_append_spans_documents_and_meta(store: Store) -> None:
    day, kitchen = Recorder(), Recorder()
    await store.append(
        [("ledger/2026-11-25", day.set("r1", 1)), ("kitchen/2026-11-25", kitchen.set("t1", 2))],
        {"seq/R1": "1"},
    )
    await store.append([], {"seq/R1": "2", "seq/R2": "7"})
    assert content(await store.load("ledger/2026-11-25")) == snapshot(day.doc)
    assert content(await store.load("kitchen/2026-11-25")) == snapshot(kitchen.doc)
    assert await store.get_meta("seq/R1") == "2"
    assert await store.get_meta("seq/R2") == "7"


async def test_empty_append_writes_nothing(store: Store) -> None:
    await store.append([])
    assert await store.documents(include_closed=True) == []
    assert store.stats.transactions == 0


@pytest.mark.parametrize("bad", [b"\x01garbage", "not bytes"])
async def test_invalid_update_rejects_the_whole_call(store: Store, bad: Any) -> None:
    good = Recorder().set("a", 1)
    with pytest.raises(StoreError, match="ledger/2026-11-25"):
        await store.append([("catalog", good), ("ledger/2026-11-25", bad)], {"seq/R1": "1"})
    assert await store.load("catalog") is None
    assert await store.get_meta("seq/R1") is None


async def test_validated_updates_commit_without_a_second_parse(store: Store) -> None:
    rec = Recorder()
    await store.append([("catalog", rec.set("a", 1)), ("catalog", rec.set("b", 2))], validated=True)
    assert content(await store.load("catalog")) == snapshot(rec.doc)
    with pytest.raises(StoreError, match="must be bytes"):  # the types are still checked
        await store.append([("catalog", "not bytes")], validated=True)  # type: ignore[list-item]
    with pytest.raises(StoreError, match="document name"):
        await store.append([("", rec.set("c", 3))], validated=True)
    assert (await store.documents())[0].log_rows == 2


async def test_compact_moves_the_log_into_a_snapshot(store: Store) -> None:
    rec = Recorder()
    for i in range(10):
        await store.append([("catalog", rec.set(f"k{i}", i))])
    await store.compact("catalog")
    [info] = await store.documents()
    assert (info.log_rows, info.snapshot_bytes > 0) == (0, True)
    await store.append([("catalog", rec.set("after", True))])
    assert content(await store.load("catalog")) == snapshot(rec.doc)
    await store.compact("no-such-document")  # nothing to do, no error


async def test_row_threshold_triggers_compaction(open_store: OpenStore) -> None:
    store = await open_store(compact_rows=4)
    rec = Recorder()
    for i in range(9):
        await store.append([("catalog", rec.set(f"k{i}", i))])
        await store.idle()  # compaction runs between bursts, in the background
    [info] = await store.documents()
    assert info.log_rows < 4
    assert info.snapshot_bytes > 0
    assert store.stats.compactions >= 2
    assert content(await store.load("catalog")) == snapshot(rec.doc)


async def test_byte_threshold_triggers_compaction(open_store: OpenStore) -> None:
    store = await open_store(compact_rows=10_000, compact_bytes=2_000)
    rec = Recorder()
    for i in range(5):
        await store.append([("catalog", rec.set(f"k{i}", "x" * 1_000))])
        await store.idle()
    assert store.stats.compactions >= 2
    assert content(await store.load("catalog")) == snapshot(rec.doc)


async def test_compaction_keeps_updates_whose_predecessors_are_missing(store: Store) -> None:
    source: pycrdt.Doc[Any] = pycrdt.Doc()
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    items = source.get("a", type=pycrdt.Array)
    for i in range(4):
        items.append(i)  # each insert is positioned after the previous one: a real dependency
    first, *rest = updates
    await store.append([("ledger/2026-11-25", u) for u in rest])
    await store.compact("ledger/2026-11-25")
    gap = await store.load("ledger/2026-11-25")
    assert content(gap)["a"] != [0.0, 1.0, 2.0, 3.0]  # loadable, but the gap is still open
    await store.append([("ledger/2026-11-25", first)])
    await store.compact("ledger/2026-11-25")
    assert content(await store.load("ledger/2026-11-25"))["a"] == [0.0, 1.0, 2.0, 3.0]


async def test_closed_documents_are_listed_only_on_request(store: Store) -> None:
    rec = Recorder()
    for name in ("ledger/2026-11-24", "ledger/2026-11-25", "catalog"):
        await store.append([(name, rec.set(name, 1))])
    await store.set_closed("ledger/2026-11-24", True)
    assert [d.name for d in await store.documents()] == ["catalog", "ledger/2026-11-25"]
    listed = await store.documents(include_closed=True)
    assert [(d.name, d.closed) for d in listed] == [
        ("catalog", False),
        ("ledger/2026-11-24", True),
        ("ledger/2026-11-25", False),
    ]
    assert set(await StoreDocuments(store).load()) == {"catalog", "ledger/2026-11-25"}
    assert await store.load("ledger/2026-11-24") is not None  # closed days load on demand
    await store.set_closed("ledger/2026-11-24", False)
    assert len(await store.documents()) == 3


async def test_closing_an_unknown_day_creates_it_empty(store: Store) -> None:
    await store.set_closed("ledger/2026-11-01", True)
    assert await store.load("ledger/2026-11-01") == EMPTY_UPDATE
    assert await store.documents() == []


async def test_drop_forgets_a_document(store: Store) -> None:
    rec = Recorder()
    for i in range(3):
        await store.append([("console/orders", rec.set(f"k{i}", i)), ("catalog", rec.set("c", i))])
    await store.compact("console/orders")
    await store.drop("console/orders")
    assert await store.load("console/orders") is None
    assert [d.name for d in await store.documents()] == ["catalog"]
    await store.drop("console/orders")  # twice is fine


async def test_closed_store_refuses_use(store: Store) -> None:
    await store.close()
    with pytest.raises(StoreClosed):
        await store.append([("catalog", Recorder().set("a", 1))])
    with pytest.raises(StoreClosed):
        await store.load("catalog")


def test_fold_keeps_segments_geometric_and_content_whole() -> None:
    rec = Recorder()
    segments: list[bytes] = []
    for batch in range(20):
        log = [rec.set(f"k{batch}-{i}", "x" * 50) for i in range(10)]
        absorbed, merged = fold(segments, log, full=False)
        segments = [*segments[: len(segments) - absorbed], merged]
        sizes = [len(s) for s in segments]
        assert all(a > 2 * b for a, b in itertools.pairwise(sizes)), sizes
    assert len(segments) <= 5
    whole = fold(segments, [], full=True)[1]
    assert content(whole) == snapshot(rec.doc)


def summary_of(doc: pycrdt.Doc[Any]) -> tuple[bytes, bytes]:
    """What the synchronizer keeps of a closed day: its state vector and its deletions."""
    state = doc.get_state()
    return state, doc.get_update(state)


async def test_a_closed_day_keeps_its_summary_and_its_record_keys(store: Store) -> None:
    day, catalog = Recorder(), Recorder()
    for i in range(3):
        await store.append([(DAY, day.set("r", i)), ("catalog", catalog.set("c", i))])
    summary = summary_of(day.doc)
    await store.close_day(DAY, *summary, keys=["r1", "R1-000001"])
    assert await store.closed_days() == {DAY: summary}
    assert [d.name for d in await store.documents()] == ["catalog"]  # not loaded at start
    assert set(await StoreDocuments(store).load()) == {"catalog"}
    assert await store.find_closed("R1-000001") == DAY
    assert await store.find_closed("r2") is None
    assert content(await store.load(DAY)) == snapshot(day.doc)  # whole, on demand
    await store.set_closed(DAY, False)  # reopened: its summary goes, its keys may stay
    assert await store.closed_days() == {}
    assert await store.find_closed("r1") == DAY
    await store.drop(DAY)
    assert await store.find_closed("r1") is None


async def test_the_engine_port_closes_and_reopens_through_the_store(store: Store) -> None:
    day = Recorder()
    await store.append([(DAY, day.set("r", 1))])
    port = StoreDocuments(store)
    await port.close(DAY, *summary_of(day.doc), ["r1"])
    assert await port.closed() == {DAY: summary_of(day.doc)}
    assert await port.find_closed("r1") == DAY
    assert content(await port.reopen(DAY)) == snapshot(day.doc)
    assert await port.closed() == {}
    assert set(await port.load()) == {DAY}


async def test_close_day_comes_after_the_appends_queued_before_it(store: Store) -> None:
    day = Recorder()
    first, second = day.set("a", 1), day.set("b", 2)
    await asyncio.gather(
        store.append([(DAY, first)]),
        store.append([(DAY, second)]),
        store.close_day(DAY, *summary_of(day.doc)),
    )
    assert await store.closed_days() == {DAY: summary_of(day.doc)}
    assert content(await store.load(DAY)) == snapshot(day.doc)


@pytest.mark.parametrize(
    ("state_vector", "keys", "words"),
    [("not bytes", [], "state vector must be bytes"), (b"\x00", ["r1", ""], "record key ''")],
)
async def test_close_day_refuses_bad_arguments_and_changes_nothing(
    store: Store, state_vector: Any, keys: list[str], words: str
) -> None:
    await store.append([(DAY, Recorder().set("r", 1))])
    with pytest.raises(StoreError, match=words):
        await store.close_day(DAY, state_vector, EMPTY_UPDATE, keys)
    assert await store.closed_days() == {}
    assert await store.find_closed("r1") is None


async def test_a_day_closed_by_the_flag_alone_is_summarised_from_its_content_once(
    store: Store,
) -> None:
    day = Recorder()
    for i in range(3):
        await store.append([(DAY, day.set("r", i))])
    await store.set_closed(DAY, True)
    [(state, deletions)] = (await store.closed_days()).values()
    assert decode_state_vector(state) == decode_state_vector(day.doc.get_state())
    rebuilt: pycrdt.Doc[Any] = pycrdt.Doc()
    rebuilt.apply_update(await store.load(DAY) or b"")
    assert deletions == rebuilt.get_update(rebuilt.get_state())
    loaded = store.stats.documents_loaded
    assert await store.closed_days() == {DAY: (state, deletions)}
    assert store.stats.documents_loaded == loaded  # kept, not summarised again
