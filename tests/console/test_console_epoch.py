"""The console database's epoch for a venue (the twenty-third session, part ``epoch``;
``ConsoleDB.venue_epoch``, ``sync/_epoch.py``): made with the database when it registers the venue,
kept in it (the same after a reopen, for every process sharing it), and new in a new database, on
SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pycrdt
import pytest

from meshpos.console import ConsoleDB, hash_token, new_venue_token, open_console_db
from meshpos.console.epoch_marks import MARKS_FILE, EpochMarks
from meshpos.errors import ConfigError

from .conftest import VENUE, Opener
from .test_console_shared import _as_schema


async def test_the_epoch_is_kept_in_the_database(open_db: Opener) -> None:
    db = await open_db()
    assert await db.venue_epoch(VENUE) is None  # (a venue it does not hold)
    await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
    epoch = await db.venue_epoch(VENUE)
    assert isinstance(epoch, int)
    assert epoch > 0
    await db.close()
    again = await open_db()  # a restart (PostgreSQL: or another process on the same database)
    assert await again.venue_epoch(VENUE) == epoch


async def test_a_new_database_has_a_new_epoch(tmp_path: Path) -> None:
    epochs: list[int | None] = []
    for name in ("lost.db", "new.db"):
        db: ConsoleDB = await open_console_db(f"sqlite:///{tmp_path / name}")
        try:
            await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
            epochs.append(await db.venue_epoch(VENUE))
        finally:
            await db.close()
    assert epochs[0] is not None
    assert epochs[1] is not None
    assert epochs[1] > epochs[0]  # (made later: creating a database takes milliseconds)


async def test_a_database_gone_backwards_gets_a_new_epoch_once(
    open_db: Opener, tmp_path: Path
) -> None:
    """**Changed** (the twenty-fourth session, operator; ``console/epoch_marks.py``): at a venue's
    load the console signs a new epoch when its database went backwards below the mark it keeps
    outside it (a restored backup), or when it has no mark (a new PC given a restored file); not
    after a mere restart. Two processes sharing the database that find it at once sign one epoch."""
    db = await open_db()
    await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
    created = await db.venue_epoch(VENUE)
    db.marks = marks = EpochMarks(tmp_path / MARKS_FILE)
    first = await db.start_epoch(VENUE)  # no mark: a new one (before: the database's, for ever)
    assert first != created
    assert await db.venue_epoch(VENUE) == first
    assert await db.start_epoch(VENUE) == first  # a restart: kept
    await db.append_updates(VENUE, "catalog", [_update("a")])
    await db.append_updates(VENUE, "catalog", [_update("b")])
    stated = marks.held(VENUE)
    assert stated is not None
    assert stated.epoch == first
    assert stated.taken >= 2  # marked at the commits, before anything states them (ahead)
    assert EpochMarks(tmp_path / MARKS_FILE).held(VENUE) == stated  # on disk
    await db.settle_marks()  # a clean stop: the marks are the database's counts
    assert marks.held(VENUE) == (first, 2)
    assert EpochMarks(tmp_path / MARKS_FILE).held(VENUE) == (first, 2)
    assert await db.start_epoch(VENUE) == first  # so a restart keeps the epoch

    # the database goes back below the mark (as a backup restored would): a new epoch, and the
    # mark comes down to the database's count
    await marks.reach(VENUE, 5)  # (or a crash: the marks ahead of the database)
    if db.url.startswith("sqlite"):  # (one process a file)
        assert (found := await db.start_epoch(VENUE)) not in (None, first)
    else:  # another process on it, its own marks below the database too: both find it at once
        other = await open_db()
        other.marks = EpochMarks(tmp_path / ("other-" + MARKS_FILE))
        await other.marks.reset(VENUE, first, 5)
        both = await asyncio.gather(db.start_epoch(VENUE), other.start_epoch(VENUE))
        found = both[0]
        assert found not in (None, first)
        assert both[1] == found  # one epoch: the compare-and-set
        assert await other.start_epoch(VENUE) == found  # and not renewed again
    assert marks.held(VENUE) == (found, 2)  # the mark came down to the database's count
    assert await db.start_epoch(VENUE) == found


def _update(text: str) -> bytes:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc["names"] = names = pycrdt.Map[str]()
    names[text] = text
    return bytes(doc.get_update())


async def test_a_schema_10_database_keeps_its_epoch_and_counts_from_there(db_url: str) -> None:
    """Schema 11 adds ``venues.taken`` and ``epoch_ms``: a database of schema 10 keeps the epoch it
    had (``created_at_ms``) until a console finds it went backwards, and counts appends from 0."""
    db = await open_console_db(db_url)
    await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
    epoch = await db.venue_epoch(VENUE)
    await db.close()
    _as_schema(db_url, 10)
    db = await open_console_db(db_url)
    try:
        assert await db.venue_epoch(VENUE) == epoch
        await db.append_updates(VENUE, "catalog", [_update("a")])
        assert await db.venue_epoch(VENUE) == epoch  # (a console without marks: a tool's)
    finally:
        await db.close()


async def test_a_venue_loaded_again_in_one_process_keeps_its_epoch(
    open_db: Opener, tmp_path: Path
) -> None:
    """The marks are written ahead of the database (``AHEAD``): a venue unloaded while idle and
    loaded again by the same process compares with the count it reached, not the mark ahead of it,
    so it keeps its epoch (a new one at each load would make every register judge again)."""
    db = await open_db()
    await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
    db.marks = EpochMarks(tmp_path / MARKS_FILE)
    first = await db.start_epoch(VENUE)
    await db.append_updates(VENUE, "catalog", [_update("a")])
    mark = db.marks.held(VENUE)
    assert mark is not None
    assert mark.taken > 1  # ahead
    assert await db.start_epoch(VENUE) == first


@pytest.mark.parametrize("text", ["", "{not json", '{"v": 3}', '{"v": [1, -2]}', "[]"])
def test_a_marks_file_that_is_not_marks_is_refused_naming_it(tmp_path: Path, text: str) -> None:
    """A garbled ``console-marks.json`` stops the console at start with its path and what to do
    (never a traceback, never a guess: a wrong mark could keep an epoch that had to change)."""
    path = tmp_path / MARKS_FILE
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="remove it to start again") as refused:
        EpochMarks(path)
    assert str(path) in str(refused.value)
