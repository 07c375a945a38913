"""Contract: CRDT state, venues, schema and URL handling, identical on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pycrdt import Doc, Map

from meshpos.console import ConsoleDB, hash_token, new_venue_token, open_console_db
from meshpos.console.tables import SCHEMA_VERSION
from meshpos.errors import (
    ConfigError,
    CorruptDatabase,
    SchemaTooNew,
    StoreClosed,
    StoreError,
    StoreLocked,
)
from meshpos.store import SqliteStore

from .conftest import VENUE, Opener
from .day import LEDGER, ledger_doc, simulate_day


def receipts_doc(n: int, *, start: int = 0, client_id: int = 7) -> tuple[Doc[Any], list[bytes]]:
    """A document written one receipt per transaction, with the update of each."""
    doc: Doc[Any] = Doc(client_id=client_id)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(bytes(event.update)))
    receipts = doc.get("receipts", type=Map)
    for i in range(start, start + n):
        receipts[f"r{i}"] = {"total": 100 + i, "number": f"R1-{i:06d}"}
    return doc, updates


def content(update: bytes | None) -> dict[str, Any]:
    assert update is not None
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    return dict(doc.get("receipts", type=Map).to_py() or {})


async def test_round_trip_in_several_appends(venue_db: ConsoleDB) -> None:
    doc, updates = receipts_doc(30)
    for i in range(0, 30, 7):
        await venue_db.append_updates(VENUE, LEDGER, updates[i : i + 7])
    assert (
        content(await venue_db.load_document(VENUE, LEDGER))
        == doc.get("receipts", type=Map).to_py()
    )
    assert await venue_db.documents(VENUE) == [LEDGER]
    assert await venue_db.venues() == [VENUE]
    assert await venue_db.load_document(VENUE, "ledger/2025-11-26") is None
    assert await venue_db.documents("nobody") == []


async def test_several_documents_append_in_one_transaction_all_or_nothing(
    venue_db: ConsoleDB,
) -> None:
    """A relay's batch touches the day and the stop list: one commit holds both, each with its version,
    and an update that does not parse refuses the whole call."""
    _, day = receipts_doc(3)
    _, stops = receipts_doc(2, start=10, client_id=8)
    versions = await venue_db.append_documents(VENUE, {LEDGER: day, "stoplist": stops})
    assert versions == {LEDGER: 1, "stoplist": 1}
    assert set(content(await venue_db.load_document(VENUE, "stoplist"))) == {"r10", "r11"}
    with pytest.raises(StoreError, match="stoplist"):
        await venue_db.append_documents(VENUE, {LEDGER: day, "stoplist": [b"\x01garbage"]})
    assert await venue_db.document_version(VENUE, LEDGER) == 1  # the day was not appended either
    assert await venue_db.append_documents(VENUE, {LEDGER: []}) == {}
    with pytest.raises(StoreError, match="unknown venue 'ghost'"):
        await venue_db.append_documents("ghost", {LEDGER: day})


async def test_documents_are_per_venue(venue_db: ConsoleDB) -> None:
    await venue_db.add_venue("cafe-2", "Other", hash_token(new_venue_token()))
    _, one = receipts_doc(2)
    _, two = receipts_doc(3, start=10, client_id=8)
    await venue_db.append_updates(VENUE, LEDGER, one)
    await venue_db.append_updates("cafe-2", LEDGER, two)
    await venue_db.append_updates("cafe-2", "catalog", two[:1])
    assert set(content(await venue_db.load_document(VENUE, LEDGER))) == {"r0", "r1"}
    assert set(content(await venue_db.load_document("cafe-2", LEDGER))) == {"r10", "r11", "r12"}
    assert await venue_db.documents("cafe-2") == ["catalog", LEDGER]
    assert await venue_db.venues() == [VENUE, "cafe-2"]


async def test_repeated_and_out_of_order_uploads_change_nothing(venue_db: ConsoleDB) -> None:
    doc, updates = receipts_doc(10)
    await venue_db.append_updates(VENUE, LEDGER, list(reversed(updates)))
    await venue_db.append_updates(VENUE, LEDGER, updates)
    await venue_db.append_updates(VENUE, LEDGER, [doc.get_update()])
    assert (
        content(await venue_db.load_document(VENUE, LEDGER))
        == doc.get("receipts", type=Map).to_py()
    )


async def test_compaction_keeps_content(open_db: Opener) -> None:
    db = await open_db(compact_rows=5)
    await db.add_venue(VENUE, "Café", hash_token(new_venue_token()))
    doc, updates = receipts_doc(23)
    for update in updates:
        await db.append_updates(VENUE, LEDGER, [update])
        assert await db.log_rows(VENUE, LEDGER) < 5
    expected = doc.get("receipts", type=Map).to_py()
    assert content(await db.load_document(VENUE, LEDGER)) == expected
    await db.compact(VENUE, LEDGER)
    assert await db.log_rows(VENUE, LEDGER) == 0
    assert content(await db.load_document(VENUE, LEDGER)) == expected
    # a later edit on top of the snapshot still loads
    doc.get("receipts", type=Map)["r0"] = {"total": 1, "number": "R1-000000"}
    await db.append_updates(VENUE, LEDGER, [doc.get_update()])
    assert content(await db.load_document(VENUE, LEDGER))["r0"]["total"] == 1


async def test_compaction_merges_the_log_with_small_segments_only(open_db: Opener) -> None:
    """A day of many appends: each compaction folds the log into segments of geometrically growing
    size (not the whole day again), so a handful of segments hold it and it loads whole."""
    db = await open_db(compact_rows=4)
    await db.add_venue(VENUE, "Café", hash_token(new_venue_token()))
    doc, updates = receipts_doc(400)
    for i in range(0, len(updates), 2):
        await db.append_updates(VENUE, LEDGER, updates[i : i + 2])
    sizes = await db.segments(VENUE, LEDGER)
    assert len(sizes) >= 2  # not one snapshot re-merged 100 times
    assert all(older > 2 * newer for older, newer in itertools.pairwise(sizes)), sizes
    assert content(await db.load_document(VENUE, LEDGER)) == doc.get("receipts", type=Map).to_py()
    await db.compact(VENUE, LEDGER)  # new log rows only: the segments stay
    assert await db.log_rows(VENUE, LEDGER) == 0
    assert content(await db.load_document(VENUE, LEDGER)) == doc.get("receipts", type=Map).to_py()


async def test_real_day_survives_reopen(open_db: Opener, db_url: str) -> None:
    r1, r2 = simulate_day()
    db = await open_db(compact_rows=3)
    await db.add_venue(VENUE, "Café", hash_token(new_venue_token()))
    for name in r1.replica.names():
        await db.append_updates(VENUE, name, [r1.replica.doc(name).get_update()])
    await db.close()
    again = await open_console_db(db_url)
    try:
        stored = await again.load_document(VENUE, LEDGER)
        assert stored is not None
        doc: Doc[Any] = Doc()
        doc.apply_update(stored)
        assert doc.get_state() == ledger_doc(r2).get_state()
        written = [n for n in r1.replica.names() if r1.replica.doc(n).get_update() != b"\x00\x00"]
        assert await again.documents(VENUE) == written  # an empty stoplist stores nothing
    finally:
        await again.close()


async def test_bad_input_writes_nothing(venue_db: ConsoleDB) -> None:
    _, updates = receipts_doc(2)
    with pytest.raises(StoreError, match="not a valid Yjs update"):
        await venue_db.append_updates(VENUE, LEDGER, [updates[0], b"\x01garbage"])
    with pytest.raises(StoreError, match="not a meshpos document name"):
        await venue_db.append_updates(VENUE, "../etc/passwd", updates)
    with pytest.raises(StoreError, match="unknown venue 'ghost'"):
        await venue_db.append_updates("ghost", LEDGER, updates)
    assert await venue_db.documents(VENUE) == []
    await venue_db.append_updates(VENUE, LEDGER, [])  # nothing to do
    await venue_db.append_updates(VENUE, LEDGER, [b"\x00\x00"])  # an empty update: skipped
    assert await venue_db.documents(VENUE) == []


async def test_updates_a_document_produced_are_stored_without_a_second_parse(
    venue_db: ConsoleDB,
) -> None:
    doc, updates = receipts_doc(5)
    await venue_db.append_updates(VENUE, LEDGER, [b"\x00\x00", *updates[:3]], validated=True)
    await venue_db.append_updates(VENUE, LEDGER, updates[3:], validated=True)
    await venue_db.append_updates(VENUE, LEDGER, updates, validated=True)  # a repeat: harmless
    await venue_db.append_updates(VENUE, "ledger/2025-11-26", [b"\x00\x00"], validated=True)
    assert await venue_db.documents(VENUE) == [LEDGER]  # an empty update is skipped, as unvalidated
    assert (
        content(await venue_db.load_document(VENUE, LEDGER))
        == doc.get("receipts", type=Map).to_py()
    )
    assert await venue_db.log_rows(VENUE, LEDGER) == 10


async def test_concurrent_appends_all_land(open_db: Opener) -> None:
    db = await open_db(compact_rows=10)
    await db.add_venue(VENUE, "Café", hash_token(new_venue_token()))
    doc, updates = receipts_doc(60)
    await asyncio.gather(*(db.append_updates(VENUE, LEDGER, [u]) for u in updates))
    assert content(await db.load_document(VENUE, LEDGER)) == doc.get("receipts", type=Map).to_py()


async def test_a_cancelled_caller_still_commits_whole(open_db: Opener, db_url: str) -> None:
    db = await open_db()
    await db.add_venue(VENUE, "Café", hash_token(new_venue_token()))
    doc, updates = receipts_doc(50)
    task = asyncio.create_task(db.append_updates(VENUE, LEDGER, updates))
    await asyncio.sleep(0)  # the write is under way
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await db.close()  # waits for accepted writes
    with pytest.raises(StoreClosed):
        await db.venues()
    again = await open_console_db(db_url)
    try:
        assert (
            content(await again.load_document(VENUE, LEDGER))
            == doc.get("receipts", type=Map).to_py()
        )
    finally:
        await again.close()


# --- venues and tokens --------------------------------------------------------------------------


async def test_venue_tokens(db: ConsoleDB) -> None:
    token, other = new_venue_token(), new_venue_token()
    await db.add_venue(VENUE, "Café Mesh", hash_token(token))
    await db.add_venue("cafe-2", "Second", hash_token(other))
    assert await db.venue_for_token(token) == VENUE
    assert await db.venue_for_token(other) == "cafe-2"
    assert await db.venue_for_token(new_venue_token()) is None
    assert await db.venue_for_token(token[:-1]) is None
    assert await db.venue_for_token("") is None
    assert await db.venue_for_token(hash_token(token)) is None  # the stored hash is no token
    with pytest.raises(StoreError, match="already exists"):
        await db.add_venue(VENUE, "Again", hash_token(new_venue_token()))
    with pytest.raises(StoreError, match="already in use"):
        await db.add_venue("cafe-3", "Copy", hash_token(token))
    with pytest.raises(ConfigError, match="64 lowercase hex"):
        await db.add_venue("cafe-4", "Plain", token)  # a plaintext token is refused
    with pytest.raises(ConfigError, match="venue id"):
        await db.add_venue("bad venue/id", "x", hash_token(new_venue_token()))
    with pytest.raises(ConfigError, match="at least 32"):
        hash_token("short")
    assert await db.venues() == [VENUE, "cafe-2"]


async def test_token_is_not_stored(tmp_path: Path) -> None:
    path = tmp_path / "console.db"
    token = new_venue_token()
    db = await open_console_db(f"sqlite:///{path}")
    await db.add_venue(VENUE, "Café", hash_token(token))
    await db.close()
    assert token.encode() not in path.read_bytes()
    assert hash_token(token).encode() in path.read_bytes()


# --- schema, URLs, damaged files ----------------------------------------------------------------


def _bump_schema(url: str, version: int) -> None:
    if url.startswith("sqlite:"):
        conn = sqlite3.connect(url[len("sqlite:///") :])
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()
        conn.close()
    else:
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute("UPDATE schema_version SET version = %s", (version,))


async def test_newer_schema_is_refused_and_left_alone(db_url: str) -> None:
    db = await open_console_db(db_url)
    await db.add_venue(VENUE, "Café", hash_token(new_venue_token()))
    await db.close()
    _bump_schema(db_url, 99)
    with pytest.raises(SchemaTooNew, match="version 99"):
        await open_console_db(db_url)
    _bump_schema(db_url, SCHEMA_VERSION)
    db = await open_console_db(db_url)  # untouched: still opens with its data
    try:
        assert await db.venues() == [VENUE]
    finally:
        await db.close()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "console.db",
        "mysql://root@localhost/console",
        "sqlite://host/console.db",
        "sqlite:///",
        "sqlite:///dir/",
        "sqlite:///console.db?mode=ro",
        "postgresql://h/db?bogus=1",
        "postgresql://u@h:notaport/db",
    ],
)
async def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        await open_console_db(url)


async def test_password_never_in_messages() -> None:
    with pytest.raises(ConfigError) as info:
        await open_console_db("mysql://root:s3cret@localhost/console")
    assert "s3cret" not in str(info.value)
    with pytest.raises(StoreError) as caught:
        await open_console_db("postgresql://u:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(caught.value)


async def test_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match=r"cannot connect to the console database .*127\.0\.0\.1"):
        await open_console_db("postgresql://postgres@127.0.0.1:1/console")


async def test_missing_database_is_a_clear_error(db_url: str) -> None:
    if db_url.startswith("sqlite:"):
        url = "sqlite:////nonexistent-dir/x/console.db"
    else:
        url = db_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(StoreError, match="console database"):
        await open_console_db(url)


def _files(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


@pytest.mark.parametrize(
    "data",
    [b"this is not a database at all" * 10, b"SQLite format 3\x00" + b"\xff" * 4000],
)
async def test_garbage_file_is_corrupt_and_untouched(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "console.db"
    path.write_bytes(data)
    with pytest.raises(CorruptDatabase, match="left untouched"):
        await open_console_db(f"sqlite:///{path}")
    assert path.read_bytes() == data
    # not even a -wal or -shm file was created; the lock is taken before the file is read (issue 18)
    assert _files(tmp_path) == ["console.db", "console.db.lock"]


async def test_damaged_pages_are_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "console.db"
    db = await open_console_db(f"sqlite:///{path}", compact_rows=10_000)
    await db.add_venue(VENUE, "Café", hash_token(new_venue_token()))
    _, updates = receipts_doc(400)
    await db.append_updates(VENUE, LEDGER, updates)
    await db.close()
    raw = bytearray(path.read_bytes())
    page = 4096
    assert len(raw) > 8 * page
    for p in range(2, len(raw) // page):  # keep page 1 (header, schema) and scramble the rest
        raw[p * page + 8 : p * page + 64] = b"\xa5" * 56
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptDatabase, match="corrupt"):
        await open_console_db(f"sqlite:///{path}")
    assert path.read_bytes() == bytes(raw)


async def test_foreign_sqlite_files_are_refused(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "node.db")  # a node's own store: not a console
    await store.close()
    with pytest.raises(StoreError, match="not a meshpos console database"):
        await open_console_db(f"sqlite:///{tmp_path / 'node.db'}")
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE t (x)")
    other.commit()
    other.close()
    with pytest.raises(StoreError, match="not a meshpos console database"):
        await open_console_db(f"sqlite:///{tmp_path / 'other.db'}")


async def test_relative_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = await open_console_db("sqlite:///sub.db")
    await db.close()
    assert (tmp_path / "sub.db").is_file()


async def test_closed_database_refuses_calls(db: ConsoleDB) -> None:
    await db.close()
    await db.close()
    with pytest.raises(StoreClosed):
        await db.add_venue(VENUE, "x", hash_token(new_venue_token()))
    with pytest.raises(StoreClosed):
        await db.load_document(VENUE, LEDGER)


async def test_two_processes_creating_the_schema_at_once(db_url: str) -> None:
    if db_url.startswith("sqlite:"):  # one console per SQLite file: the second opener is refused
        both = await asyncio.gather(
            open_console_db(db_url), open_console_db(db_url), return_exceptions=True
        )
        opened = [db for db in both if not isinstance(db, BaseException)]
        refused = [exc for exc in both if isinstance(exc, BaseException)]
        for db in opened:
            await db.close()
        assert len(opened) == 1
        assert [type(exc) for exc in refused] == [StoreLocked]
        return
    first, second = await asyncio.gather(open_console_db(db_url), open_console_db(db_url))
    try:
        await first.add_venue(VENUE, "Café", hash_token(new_venue_token()))
        assert await second.venues() == [VENUE]
    finally:
        await first.close()
        await second.close()
