"""A console whose database was replaced, and the registers' closed days (ninth outside round, the
twenty-second session; found by part ``outside``, fixed by part ``newconsole``).

The back-office PC dies, or its ``console.db`` is lost, and the operator starts ``meshpos console`` anew
on the venue directory with a new database (README has no console backup). A register closed its past
business days once the old console held them (register/days.py), and a closed day is offered again
only to a node that asks for it: the new console does not know those days exist, so it never asks,
and the register says "All data is synced" while the console's reports lack every closed day. A
status more optimistic than the truth. **Changed** (issue 18, newconsole): a strict register judges
the console's signed statements against its closed days (``sync/_lacking.py``), shows a lacking one
not at the console and opens it again, so it syncs. A venue whose console signs nothing (no
``console.key``: ``meshpos venue init`` makes one) stays a strict xfail: its console never states the
days it closed, so a register cannot tell a day it lacks from one it holds closed.

Real processes under libfaketime: the register sells on day D, then runs a day later so that D
closes (the console holding it), then meets a console on a new database: restarted with it, or
(**Changed**, the twenty-third session, epoch: ``sync/_epoch.py``) left running while the console's
database is replaced under it, which it finds from the console's signed epoch.
"""

from __future__ import annotations

import datetime as dt
import functools
import glob
import os
import re
import sys
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER
from meshpos.trust.console_key import issue_console_key

from ..console.pgserver import PgServer, postgres_server
from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue

__all__ = ["postgres_server"]  # the session fixture, found here by pytest

FAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))), None)


def _later(days: int) -> list[str]:
    assert FAKETIME is not None
    return ["env", f"LD_PRELOAD={FAKETIME}", f"FAKETIME=+{days}d"] if days else []


def synced(register: NodeProcess) -> bool:
    return bool(register.status()["message"] == "All data is synced")


def closed_a_day(register: NodeProcess) -> bool:
    return bool(register.call("GET", "/api/days")["closed"])


@pytest.mark.skipif(
    FAKETIME is None and os.environ.get("CI") != "true",
    reason="needs libfaketime (Debian package faketime)",
)
@pytest.mark.parametrize(
    "signing",
    [
        "console_key",
        pytest.param(
            "unsigned",
            marks=pytest.mark.xfail(
                strict=True,
                reason=(
                    "a console that signs nothing states neither its closed days nor its epoch "
                    "(sync/_lacking.py, sync/_epoch.py): a register cannot tell a console holding "
                    "a closed day from one that never had it; to pass, the unsigned console would "
                    "tell both unsigned (feature-gated), as trustworthy as any enrolled device"
                ),
            ),
        ),
    ],
)
def test_a_console_on_a_new_database_is_not_called_synced(tmp_path: Path, signing: str) -> None:
    assert FAKETIME is not None, "faketime is missing (./run test installs it as root)"
    authority = make_venue(tmp_path)
    if signing == "console_key":  # (what ``meshpos venue init`` makes: README)
        issue_console_key(authority)
    v = f"/api/venues/{authority.venue_id}"
    config = make_device(authority, tmp_path, "R1", heartbeat_interval=0.5, day_idle_seconds=0.5)
    sold: list[str] = []
    for days, home in ((0, "old"), (1, "old"), (1, "new")):
        (tmp_path / home).mkdir(exist_ok=True)
        console = ConsoleProcess(
            tmp_path / home, [authority.directory], python=[*_later(days), sys.executable]
        ).start()
        text = re.sub(r'\nconsole_(url|token) = "[^"]*"', "", config.read_text())
        config.write_text(
            text.replace(
                "[node]\n",
                f'[node]\nconsole_url = "{console.ready["console"]}"\n'
                f'console_token = "{authority.console_token}"\n',
                1,
            )
        )
        register = NodeProcess(
            config, tmp_path / "R1.log", ["--no-discovery"], prefix=_later(days)
        ).start()
        try:
            if days == 0:
                register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
                sold += [register.sell(CASHIER, ["espresso"])["number"] for _ in range(2)]
            wait_for(functools.partial(synced, register), 90, "R1 synced")
            if home == "old" and days == 1:  # the day of the sales closed, the console holding it
                wait_for(functools.partial(closed_a_day, register), 90, "the day closed")
            today = dt.date.today()
            held = console.call(
                "GET", f"{v}/receipts?from={today - dt.timedelta(days=2)}&to={today}"
            )
            assert sorted(r["number"] for r in held) == sorted(sold), (home, days, held)
        finally:
            register.kill()
            console.stop()


@pytest.mark.skipif(
    FAKETIME is None and os.environ.get("CI") != "true",
    reason="needs libfaketime (Debian package faketime)",
)
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_register_that_keeps_running_sees_the_console_database_replaced(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    """**Changed** (the twenty-third session, epoch; ``sync/_epoch.py``): the console's database
    is replaced while the register keeps running (stop the console, move ``console.db`` away,
    start ``meshpos console`` again on the same port; PostgreSQL: on a new database). The register sees the console's signed
    epoch change, forgets what the old console told it and judges again: it does not say synced
    until the new console holds the sales of the closed day. On main it kept the old console's
    confirmation in memory, said "All data is synced" and never sent the day (README said to
    restart every register)."""
    assert FAKETIME is not None, "faketime is missing (./run test installs it as root)"
    authority = make_venue(tmp_path)
    issue_console_key(authority)
    v = f"/api/venues/{authority.venue_id}"
    config = make_device(authority, tmp_path, "R1", heartbeat_interval=0.5, day_idle_seconds=0.5)
    home = tmp_path / "back-office"
    home.mkdir()
    sold: list[str] = []
    server: PgServer | None = None
    urls: list[str] = []
    if database == "postgres":
        server = request.getfixturevalue("postgres_server")
        urls = [server.create_database(), server.create_database()]  # the lost one, the new one

    def link(console: ConsoleProcess) -> None:
        text = re.sub(r'\nconsole_(url|token) = "[^"]*"', "", config.read_text())
        config.write_text(
            text.replace(
                "[node]\n",
                f'[node]\nconsole_url = "{console.ready["console"]}"\n'
                f'console_token = "{authority.console_token}"\n',
                1,
            )
        )

    def held(console: ConsoleProcess) -> list[str]:
        today = dt.date.today()
        got = console.call("GET", f"{v}/receipts?from={today - dt.timedelta(days=2)}&to={today}")
        return sorted(r["number"] for r in got)

    for days in (0, 1):  # the sales on day D; the next day, D closes with the console holding it
        console = ConsoleProcess(
            home,
            [authority.directory],
            db=urls[0] if urls else "",
            python=[*_later(days), sys.executable],
        ).start()
        link(console)
        register = NodeProcess(
            config, tmp_path / "R1.log", ["--no-discovery"], prefix=_later(days)
        ).start()
        try:
            if days == 0:
                register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
                sold += [register.sell(CASHIER, ["espresso"])["number"] for _ in range(2)]
            wait_for(functools.partial(synced, register), 90, "R1 synced")
            if days == 1:
                wait_for(functools.partial(closed_a_day, register), 90, "the day closed")
                wait_for(functools.partial(synced, register), 90, "R1 synced, the day closed")
            assert held(console) == sorted(sold)
        finally:
            console.stop()
            if days == 0:
                register.kill()
    try:  # the register keeps running; the back-office's database is lost
        lost = home / "lost"
        lost.mkdir()
        for path in home.glob("console.db*"):
            path.rename(lost / path.name)
        console = ConsoleProcess(
            home,
            [authority.directory],
            db=urls[1] if urls else "",
            args=["--port", str(console.port)],
            python=[*_later(1), sys.executable],
        ).start()
        seen: list[tuple[str, list[str]]] = []  # R1's status and the new console's receipts

        def synced_and_held() -> bool:
            now = (register.status()["message"], held(console))
            if not seen or seen[-1] != now:
                seen.append(now)
            # until R1 hears the new console it may stand by the old one's word (fresh for
            # console_fresh_s); once it said something else, "synced" must mean the new one holds
            # the sales (main: the day the old console confirmed is never sent, or, opened again,
            # it is called synced on the old console's clocks before the new one holds it)
            heard = any(message != "All data is synced" for message, _ in seen)
            if heard and now[0] == "All data is synced" and now[1] != sorted(sold):
                raise AssertionError(f"R1 says synced, the new console holds {now[1]}: {seen}")
            return now == ("All data is synced", sorted(sold))

        wait_for(synced_and_held, 150, lambda: f"the new console holding {sold}: {seen}")
        assert any(message != "All data is synced" for message, _ in seen), seen
    finally:
        register.kill()
        console.stop()
        for url in urls:
            assert server is not None
            server.drop_database(url)
