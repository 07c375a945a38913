"""The console database's epoch for a venue (the twenty-third session, part ``epoch``;
``ConsoleDB.venue_epoch``, ``sync/_epoch.py``): made with the database when it registers the venue,
kept in it (the same after a reopen, for every process sharing it), and new in a new database, on
SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

from meshpos.console import ConsoleDB, hash_token, new_venue_token, open_console_db

from .conftest import VENUE, Opener


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
