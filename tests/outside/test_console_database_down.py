"""Found from the outside (the twenty-first session), as the venue whose console keeps its data in
PostgreSQL on another machine, stopped for an upgrade one morning: the console process ran on, and
answered every relay's probe ``503 the console cannot check tokens now``. The register took that
for no answer at all: its status said only what was not at the console yet, and the alert told the
operator to check the venue's network cable, while the cable was fine and the database was down.
Now the register names the console's own problem, and once the database is back everything it sold
reaches the console and it is green again.

A real ``meshpos console`` on a real PostgreSQL database whose connections are refused
(``ALLOW_CONNECTIONS false``, its sessions ended: as a stopped server, without stopping the tests'
shared cluster) and a real register relaying to it. On main the register's message never names the
console's problem (the first wait times out).
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from meshpos.harness.wait import wait_for
from meshpos.localapi import ApiError
from meshpos.model.sample import CASHIER

from ..console.pgserver import PgServer, postgres_server
from ..mesh.kit import ConsoleProcess, make_venue, start_console_register

__all__ = ["postgres_server"]  # the session fixture, found here by pytest

WORDS = "the console cannot check tokens now"


def _connections(server: PgServer, url: str, allowed: bool) -> None:
    """Refuse (or allow again) every connection to the database at ``url``, ending its sessions."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


@pytest.mark.slow
def test_a_console_whose_database_is_down_is_named_by_the_register(
    tmp_path: Path, postgres_server: PgServer
) -> None:
    url = postgres_server.create_database()
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory], db=url).start()
    _connections(postgres_server, url, allowed=False)
    register = start_console_register(authority, tmp_path, console)
    try:
        v = f"/api/venues/{authority.venue_id}"
        register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        sold = register.sell(CASHIER, ["espresso"])["id"]  # acknowledged while the console cannot
        wait_for(  # main: "... are not at the console yet" (check the network cable), for good
            lambda: WORDS in register.status()["message"],
            60,
            "the register naming the console's database",
        )
        status = register.status()
        assert status["colour"] != "green", status
        with pytest.raises(ApiError) as refused:  # the console's own pages say so too
            console.call("GET", f"{v}/status")
        assert refused.value.status == 503, refused.value

        _connections(postgres_server, url, allowed=True)

        def at_console() -> set[str]:
            return {r["id"] for r in console.call("GET", f"{v}/receipts")}

        wait_for(lambda: sold in at_console(), 90, "the sale at the console")
        wait_for(
            lambda: register.status()["message"] == "All data is synced",
            90,
            "the register synced",
        )
        assert register.status()["colour"] == "green"
    finally:
        register.kill()
        console.stop()
        _connections(postgres_server, url, allowed=True)
        postgres_server.drop_database(url)
