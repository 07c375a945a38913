"""One ``db`` fixture, parametrised over SQLite (a temp file) and a real PostgreSQL server.

The PostgreSQL cluster is started once per session by ``pgserver.postgres_server`` and only when a
postgres-parametrised test runs; each test gets a fresh database in it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.console import ConsoleDB, hash_token, new_venue_token, open_console_db

from .pgserver import PgServer, postgres_server

__all__ = ["postgres_server"]  # re-exported so pytest finds the session fixture here

VENUE = "cafe-1"

Opener = Callable[..., Awaitable[ConsoleDB]]


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'console.db'}"  # tmp_path is absolute: sqlite:////tmp/...
        return
    server: PgServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
async def open_db(db_url: str) -> AsyncIterator[Opener]:
    """``await open_db(**options)`` opens the parametrised database; all are closed at the end."""
    opened: list[ConsoleDB] = []

    async def factory(**options: Any) -> ConsoleDB:
        db = await open_console_db(db_url, **options)
        opened.append(db)
        return db

    yield factory
    for db in opened:
        await db.close()


@pytest.fixture
async def db(open_db: Opener) -> ConsoleDB:
    return await open_db()


@pytest.fixture
async def venue_db(db: ConsoleDB) -> ConsoleDB:
    """A database with venue ``VENUE`` registered."""
    await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
    return db
