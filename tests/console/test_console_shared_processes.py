"""Two ``meshpos console`` processes on one PostgreSQL and a register whose relay links to one of them:
a price edited through the other console's API reaches the register, and both consoles show the
register's status alike (issue 15, "several console processes share one PostgreSQL").

Console A takes the edit; the register (a real ``meshpos node``, the venue's relay) is linked to
console B only. B hears A's commit (NOTIFY), applies it through its hub's engine and sends it down the
relay's link; the register's event stream announces the new price.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER

from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue
from .pgserver import PgServer

PRODUCT = "burger"
STARTUP_S = 30.0  # the register uploads its catalog to B, and A hears it
SHOWN_R1 = {"role": "register", "reachable": True, "via": "R1", "relay": True}
DEADLINE_S = 10.0  # A's edit on the register: a second between consoles, the rest relay and mesh


@pytest.mark.slow
def test_a_price_edited_through_one_console_reaches_a_register_linked_to_the_other(
    tmp_path: Path, postgres_server: PgServer
) -> None:
    url = postgres_server.create_database()
    authority = make_venue(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    # A unloads the venue soon after an edit: its reads and status load nothing
    a = ConsoleProcess(
        tmp_path / "a", [authority.directory], db=url, args=["--venue-idle-seconds", "1"]
    ).start()
    b: ConsoleProcess | None = None
    register: NodeProcess | None = None
    try:
        b = ConsoleProcess(tmp_path / "b", [authority.directory], db=url).start()
        host = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.11"
        config = make_device(
            authority,
            tmp_path,
            "R1",
            host=host,
            console_url=str(b.ready["console"]),
            console_token=authority.console_token,
            heartbeat_interval=0.5,
        )
        register = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
        venue = f"/api/venues/{authority.venue_id}"

        def console_price(console: ConsoleProcess) -> int | None:
            products = console.call("GET", f"{venue}/catalog")
            return next((p["price"] for p in products if p["id"] == PRODUCT), None)

        def register_price() -> int | None:
            assert register is not None
            products = register.call("GET", "/api/catalog")["products"]
            return next((p["price"] for p in products if p["id"] == PRODUCT), None)

        # the register seeded the catalog and uploaded it to B; A holds it from B's commit
        wait_for(lambda: console_price(a) is not None, STARTUP_S, "the catalog at console A")
        price = register_price()
        assert price is not None
        assert console_price(a) == price
        assert b.call("GET", f"{venue}/status")["relays"] == ["R1"]

        def shown(console: ConsoleProcess) -> tuple[list[str], dict[str, object]]:
            status = console.call("GET", f"{venue}/status")
            r1 = status["registers"].get("R1", {})
            return status["relays"], {k: r1.get(k) for k in ("role", "reachable", "via", "relay")}

        # the relay links to B only; A shows it as B does (from the sightings B stores)
        wait_for(
            lambda: shown(a) == shown(b) == (["R1"], SHOWN_R1),
            STARTUP_S,
            lambda: f"the same register status on both consoles: A {shown(a)}, B {shown(b)}",
        )

        def loaded(console: ConsoleProcess) -> list[str]:
            return list(console.call("GET", "/api/console")["loaded"])

        # A read the catalog and showed the status from the database: it holds no venue; B holds
        # the one its relay uses
        assert loaded(a) == []
        assert loaded(b) == [authority.venue_id]

        new_price = price + 10
        a.call("POST", f"{venue}/prices", {"product_id": PRODUCT, "price": new_price})
        wait_for(
            lambda: register_price() == new_price,
            DEADLINE_S,
            "console A's price on the register linked to console B",
            on=[register.events],
        )
        assert console_price(b) == new_price
        # A unloads the venue again; an edit through it then loads it afresh from the database
        # (with everything B committed) and still reaches the register
        wait_for(lambda: loaded(a) == [], STARTUP_S, "the venue unloaded at console A")
        new_price += 5
        a.call("POST", f"{venue}/prices", {"product_id": PRODUCT, "price": new_price})
        wait_for(
            lambda: register_price() == new_price,
            DEADLINE_S,
            "a second price from console A, after it unloaded the venue",
            on=[register.events],
        )
        # and it sells at it
        register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 1_000})
        receipt = register.sell(CASHIER, [PRODUCT])
        assert receipt["total"] == new_price, receipt
    finally:
        if register is not None:
            register.kill()
        if b is not None:
            b.stop()
        a.stop()
        postgres_server.drop_database(url)


@pytest.mark.slow
def test_a_second_console_process_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    """Only PostgreSQL lets console processes hear each other: a second one on a SQLite file would
    serve relays an edit made through the first never reaches, so it refuses to start."""
    authority = make_venue(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    db = f"sqlite:///{tmp_path / 'console.db'}"
    first = ConsoleProcess(tmp_path / "a", [authority.directory], db=db).start()
    try:
        second = ConsoleProcess(tmp_path / "b", [authority.directory], db=db)
        with pytest.raises(AssertionError, match="console did not start") as refused:
            second.start()
        assert second.proc is not None
        assert second.proc.returncode == 2  # exited by itself (reaped by the failed start)
        assert "is held by one process at a time" in str(refused.value)
        assert first.call("GET", "/health") == {"ok": True}  # the first one is untouched
    finally:
        first.stop()
