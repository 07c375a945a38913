"""A console edit whose commit fails changes nothing (real ``meshpos console`` on a real PostgreSQL,
a real register linked to it through its relay): the client gets 503 ``store_error`` saying the
database cannot write, and once the database is back the console's catalog, its audit log and the
register show no trace of the edit, although a later edit reaches the register
(docs/architecture.md (Relay and console): console edits are drafted, committed, then applied)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from meshpos.harness.wait import wait_for
from meshpos.localapi import ApiError

from ..mesh.kit import ConsoleProcess, NodeProcess, make_venue, start_console_register
from .pgserver import PgServer

STARTUP_S = 30.0  # the register uploads its catalog to the console
DEADLINE_S = 20.0  # a console edit on the register


@pytest.fixture
def pg_url(postgres_server: PgServer) -> Iterator[str]:
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


def _database(server: PgServer, url: str, state: str) -> None:
    """The console's database ``gone`` (refusing connections), ``read_only`` (as a standby after a
    failover: it reads but every write fails, like a full disk) or ``back``; the connections it had
    are dropped each time (the console reconnects; a write on a dropped one fails once)."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        allow = "false" if state == "gone" else "true"
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {allow}')
        read_only = "on" if state == "read_only" else "off"
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {read_only}')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )


@pytest.mark.slow
def test_an_edit_the_database_refused_reaches_neither_the_pages_nor_the_registers(
    tmp_path: Path, postgres_server: PgServer, pg_url: str
) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory], db=pg_url).start()
    register: NodeProcess | None = None
    venue = f"/api/venues/{authority.venue_id}"
    try:
        register = start_console_register(authority, tmp_path, console, last_octet=13)

        def products(where: NodeProcess | ConsoleProcess) -> set[str]:
            if where is console:
                return {p["id"] for p in console.call("GET", f"{venue}/catalog")}
            return {p["id"] for p in where.call("GET", "/api/catalog")["products"]}

        wait_for(
            lambda: products(console) == products(register),
            STARTUP_S,
            "the register's catalog at the console",
        )
        before, audit_before = products(console), console.call("GET", f"{venue}/audit")

        lost = {"id": "lost", "name": "Lost", "price": 100}
        for state in ("gone", "read_only"):  # the edit is refused before it runs; when it commits
            _database(postgres_server, pg_url, state)
            try:
                with pytest.raises(ApiError) as refused:
                    console.call("POST", f"{venue}/products", lost)
            finally:
                _database(postgres_server, pg_url, "back")
            assert (refused.value.status, refused.value.error_code) == (503, "store_error"), state
            assert "cannot answer now" in str(refused.value)
            assert "console database" in str(refused.value)
            assert products(console) == before, state  # not even in the console's memory

        # the database is back: nothing of the refused edit anywhere, a new one goes through
        assert products(console) == before
        assert console.call("GET", f"{venue}/audit") == audit_before

        def kept() -> bool:
            try:
                console.call(
                    "POST", f"{venue}/products", {"id": "kept", "name": "Kept", "price": 200}
                )
            except ApiError as exc:  # the write that finds its connection dropped
                if exc.status != 503:
                    raise
                return False
            return True

        wait_for(kept, DEADLINE_S, "the console writing again")
        assert register is not None
        wait_for(
            lambda: "kept" in products(register),
            DEADLINE_S,
            "the later edit on the register",
        )
        assert products(register) == before | {"kept"}
        assert products(console) == before | {"kept"}
        assert [e["subject"] for e in console.call("GET", f"{venue}/audit")] == [
            "kept",
            *[e["subject"] for e in audit_before],
        ]
    finally:
        if register is not None:
            register.kill()
        console.stop()
