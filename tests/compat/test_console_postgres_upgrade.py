"""The PostgreSQL console's upgrade path (docs/architecture.md (Wire), compatibility rules): the previous
release's ``meshpos console`` (N−1, compat/previous_release) on a PostgreSQL database with a register
selling through it and an edit made at it; then this build's console on the same database and port.
Nothing is lost or duplicated: every receipt once at the registers' totals, the edit and its audit
entry kept, and both sides go on working (more sales arrive, a new edit reaches the register).
(The SQLite console's upgrade is in test_mixed_versions.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER

from ..console.pgserver import PgServer, postgres_server
from ..mesh.kit import ConsoleProcess, NodeProcess, make_venue, start_console_register
from .previous import Release
from .test_mixed_versions import free_port

__all__ = ["postgres_server"]  # the session fixture, found here by pytest

pytestmark = pytest.mark.slow

DEADLINE_S = 60.0  # generous: the machine is shared with other test runs


@pytest.fixture
def pg_url(postgres_server: PgServer) -> Iterator[str]:
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


def test_the_previous_consoles_postgres_database_opens_in_this_one_with_nothing_lost(
    tmp_path: Path, previous_release: Release, pg_url: str
) -> None:
    authority = make_venue(tmp_path)
    venue = f"/api/venues/{authority.venue_id}"
    port = free_port("127.0.0.1")

    def console(*, old: bool) -> ConsoleProcess:
        root = tmp_path / ("console-old" if old else "console-new")
        root.mkdir()
        return ConsoleProcess(
            root,
            [authority.directory],
            db=pg_url,
            args=["--port", str(port)],
            python=previous_release.python if old else [],
        ).start()

    def receipts(at: ConsoleProcess) -> dict[str, int]:
        got: list[dict[str, Any]] = at.call("GET", f"{venue}/receipts")
        ids = [r["id"] for r in got]
        assert len(ids) == len(set(ids)), f"duplicated at the console: {sorted(ids)}"
        return {r["id"]: r["total"] for r in got}

    def price(where: NodeProcess, product: str) -> int:
        return next(
            p["price"] for p in where.call("GET", "/api/catalog")["products"] if p["id"] == product
        )

    old = console(old=True)
    previous_release.check_runs(old.proc)
    new: ConsoleProcess | None = None
    register: NodeProcess | None = None
    try:
        register = start_console_register(authority, tmp_path, old, last_octet=14)
        register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 1_000})
        sold = {
            r["id"]: r["total"] for r in (register.sell(CASHIER, ["croissant"]) for _ in range(3))
        }
        wait_for(lambda: receipts(old) == sold, DEADLINE_S, "the receipts at the N-1 console")
        old.call("POST", f"{venue}/prices", {"product_id": "croissant", "price": 777})
        wait_for(
            lambda: price(register, "croissant") == 777, DEADLINE_S, "N-1's edit on the register"
        )
        audit = old.call("GET", f"{venue}/audit")
        assert [e["action"] for e in audit][:1] == ["product.price"], audit
        old.stop()

        new = console(old=False)  # the same database and port: the register's relay redials it
        assert receipts(new) == sold  # what N-1 stored reads the same in N
        assert new.call("GET", f"{venue}/audit") == audit
        sold |= {
            r["id"]: r["total"] for r in (register.sell(CASHIER, ["croissant"]) for _ in range(2))
        }
        assert sorted(sold.values())[-1] == 777  # the new price sold
        wait_for(lambda: receipts(new) == sold, DEADLINE_S, "every receipt at the N console")
        new.call("POST", f"{venue}/prices", {"product_id": "croissant", "price": 780})
        wait_for(
            lambda: price(register, "croissant") == 780, DEADLINE_S, "N's edit on the register"
        )
    finally:
        if register is not None:
            register.kill()
        for process in (old, new):
            if process is not None:
                process.stop()
