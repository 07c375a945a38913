"""Found from the outside (fifth round), as a manager of a café whose tables are named in its own
language: Reports -> Receipts searched by table found nothing for "Été 1", "Küche" or "Кухня 2", even
typed exactly as the register wrote them. The search compared both sides in capitals: the console
capitalised what the manager typed with Python ("KÜCHE") and the stored name with the database's
``UPPER``, which in SQLite changes ASCII letters only ("KüCHE"), and in PostgreSQL follows the
cluster's locale (ASCII only under ``C``, as here), so any table with a letter outside ASCII never
matched; the register's own search (Python on both sides) found it. The console now reads the names
the range's orders hold and compares them in Python (``console/table_names.py``). Real processes: a
``meshpos console`` (SQLite, and PostgreSQL) and its relay.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER

from ..console.pgserver import PgServer, postgres_server
from ..mesh.kit import ConsoleProcess, make_venue, start_console_register

__all__ = ["postgres_server"]  # the session fixture, found here by pytest

TABLES = ("\u00c9t\u00e9 1", "K\u00fcche", "\u041a\u0443\u0445\u043d\u044f 2", "Terrace 3")


def test_a_table_in_the_venues_letters_is_found_at_the_console(tmp_path: Path) -> None:
    _found_by_table(tmp_path, "")


@pytest.mark.slow
def test_a_table_in_the_venues_letters_is_found_at_a_postgresql_console(
    tmp_path: Path, postgres_server: PgServer
) -> None:
    url = postgres_server.create_database()
    try:
        _found_by_table(tmp_path, url)
    finally:
        postgres_server.drop_database(url)


def _found_by_table(tmp_path: Path, db: str) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory], db=db).start()
    register = start_console_register(authority, tmp_path, console)
    try:
        register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        sold = {}
        for table in TABLES:
            order = register.call("POST", "/api/orders", {"user": CASHIER, "table": table})["id"]
            line = {"user": CASHIER, "product_id": "espresso"}
            register.call("POST", f"/api/orders/{order}/lines", line)
            paid = {"user": CASHIER, "method": "card"}
            sold[table] = register.call("POST", f"/api/orders/{order}/payments", paid)["receipt"]
        wait_for(
            lambda: register.status()["message"] == "All data is synced",
            60,
            "the console holds the receipts",
            on=[register.events],
        )
        day = register.call("GET", "/api/days")["today"]
        v = f"/api/venues/{authority.venue_id}/reports/receipts?from={day}&to={day}"
        for table, receipt in sold.items():
            for typed in (table, table.lower(), table.upper()):
                found = console.call("GET", f"{v}&table={quote(typed)}")
                assert [r["id"] for r in found["items"]] == [receipt["id"]], (typed, found)
    finally:
        register.kill()
        console.stop()
