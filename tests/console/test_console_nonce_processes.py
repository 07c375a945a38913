"""A relay's upgrade seen on the ``ws://`` line and replayed to another console process of the venue, or
to the same one restarted, is refused (real ``meshpos console`` processes; trust/relay_proof.py).

The console's probe answer gives a relay a nonce (an HMAC under a secret every console process of the
venue derives alike, so any of them takes another's), the relay signs it into its upgrade's proof, and
the console takes each nonce once. Each process remembered only the nonces it took itself, so whoever
saw an upgrade and holds the venue token (a stolen register keeps it in its ``node.toml``) replayed it
within 30 s to a second console process on the same PostgreSQL, or to the console after a restart, and
was admitted as the honest relay's device, revoked devices or not. Now the console's database keeps
the nonces taken (the contract: tests/console/test_console_relay_nonces.py); a database that cannot
be asked at that moment refuses the upgrade (503, with the reason; logged at a bounded rate), never
admits it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time
from pathlib import Path

import psycopg
import pytest

from meshpos.trust import DeviceIdentity, VenueAuthority
from meshpos.trust.relay_proof import NONCE_TTL_S, relay_proof

from ..mesh.kit import ConsoleProcess, make_venue
from ..outside.test_revoked_relay import knock
from ..trust.helpers import issue_identity
from .pgserver import PgServer


def venue_with_a_revoked_register(
    root: Path,
) -> tuple[VenueAuthority, DeviceIdentity, DeviceIdentity]:
    """A venue that revoked R1 (so a relay's upgrade must carry a fresh proof), honest R2, and R1."""
    authority = make_venue(root)
    honest = issue_identity(authority, "R2")
    stolen = issue_identity(authority, "R1")
    authority.revoke("R1", "stolen")
    return authority, honest, stolen


class Relay:
    """R2 as the console sees it: its probe (which hands over a nonce) and its upgrade."""

    def __init__(self, authority: VenueAuthority, identity: DeviceIdentity) -> None:
        self.token = authority.console_token
        self.identity = identity
        self.path = f"/v1/venues/{authority.venue_id}/sync"
        self.auth = {"Authorization": f"Bearer {self.token}"}

    def nonce(self, console: ConsoleProcess) -> str:
        """What ``console``'s answer to this relay's probe hands over."""
        status, body = knock(
            console.port, self.path, {**self.auth, **relay_proof(self.identity, self.token)}
        )
        assert status == 200, body
        nonce = body.partition("\nnonce: ")[2].strip()
        assert nonce, f"the probe's answer holds no nonce: {body!r}"
        return nonce

    def upgrade_headers(self, console: ConsoleProcess, nonce: str = "") -> dict[str, str]:
        """The headers of an upgrade over ``nonce``, by default the one this relay's probe got."""
        nonce = nonce or self.nonce(console)
        return {**self.auth, **relay_proof(self.identity, self.token, nonce)}

    def upgrade(self, console: ConsoleProcess, headers: dict[str, str]) -> tuple[int, str]:
        return knock(console.port, self.path, headers, upgrade=True)


@pytest.mark.slow
def test_an_upgrade_replayed_to_the_console_after_its_restart_is_refused(tmp_path: Path) -> None:
    """SQLite: one console process per file (a second is refused by the file's lock), but a
    restarted one, killed -9 after it admitted the relay, is the same database."""
    authority, honest, revoked = venue_with_a_revoked_register(tmp_path)
    relay = Relay(authority, honest)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()

    def rows() -> int:
        """The nonces the console's database holds as taken."""
        uri = f"file:{tmp_path / 'console' / 'console.db'}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            return int(db.execute("SELECT count(*) FROM relay_nonces").fetchone()[0])

    try:
        # only a proof that holds takes a row: the revoked R1's, over a fresh nonce (its own probe
        # is refused: it takes one the honest relay's probe got), does not (nor does any refused
        # proof: the database comes last), so a stolen register cannot fill the table
        stolen = Relay(authority, revoked)
        for _ in range(5):
            status, body = stolen.upgrade(
                console, stolen.upgrade_headers(console, relay.nonce(console))
            )
            assert (status, "'R1' is revoked" in body) == (403, True), (status, body)
        assert rows() == 0
        seen, made = relay.upgrade_headers(console), time.monotonic()
        assert relay.upgrade(console, seen)[0] == 101
        assert rows() == 1
        assert console.proc is not None
        os.kill(console.proc.pid, signal.SIGKILL)
        console.stop()  # (reaps it)
        console.start()
        took = time.monotonic() - made
        assert took < NONCE_TTL_S - 5, f"the restart took {took:.0f} s: the nonce aged out first"
        status, body = relay.upgrade(console, seen)
        assert status == 403, (status, body)
        assert body.startswith("relay proof: the console nonce was used already"), body
        assert "before this one restarted" in body, body
        assert rows() == 1
        # and the honest relay's next dial, with a nonce of its own, still comes in
        assert relay.upgrade(console, relay.upgrade_headers(console))[0] == 101
    finally:
        console.stop()


@pytest.mark.slow
def test_an_upgrade_replayed_to_another_console_process_of_the_venue_is_refused(
    tmp_path: Path, postgres_server: PgServer
) -> None:
    url = postgres_server.create_database()
    authority, honest, _ = venue_with_a_revoked_register(tmp_path)
    relay = Relay(authority, honest)
    consoles: list[ConsoleProcess] = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            consoles.append(ConsoleProcess(tmp_path / name, [authority.directory], db=url).start())
        a, b = consoles
        seen = relay.upgrade_headers(a)
        assert relay.upgrade(a, seen)[0] == 101
        status, body = relay.upgrade(b, seen)
        assert status == 403, (status, body)
        assert "nonce was used already (by another console process of this venue" in body, body
        # a probe and its dial may reach two processes: B takes A's nonce, once
        fresh = relay.upgrade_headers(a)
        assert relay.upgrade(b, fresh)[0] == 101
        status, body = relay.upgrade(a, fresh)
        assert (status, "used already" in body) == (403, True), (status, body)
        log = (tmp_path / "b" / "console.log").read_text()
        assert "nonce was used already" in log, log[-2000:]
    finally:
        for console in consoles:
            console.stop()
        postgres_server.drop_database(url)


@pytest.mark.slow
def test_nonces_that_cannot_be_checked_refuse_the_upgrade_with_the_reason(
    tmp_path: Path, postgres_server: PgServer
) -> None:
    """The nonce table fails at the moment of the check (here renamed behind the console's back):
    every upgrade is refused 503 with the reason, never admitted; a flood of them logs a line or
    two, not one each; once the table is back, the relay's next dial comes in."""
    url = postgres_server.create_database()
    authority, honest, _ = venue_with_a_revoked_register(tmp_path)
    relay = Relay(authority, honest)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory], db=url).start()
    try:
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute("ALTER TABLE relay_nonces RENAME TO relay_nonces_away")
        for _ in range(30):
            status, body = relay.upgrade(console, relay.upgrade_headers(console))
            assert status == 503, (status, body)
            assert body.startswith("the console cannot check its relay nonces now"), body
            assert "relay_nonces" in body, body
        log = (tmp_path / "console" / "console.log").read_text()
        assert 1 <= log.count("cannot check its relay nonces") <= 2, log[-3000:]
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute("ALTER TABLE relay_nonces_away RENAME TO relay_nonces")
        assert relay.upgrade(console, relay.upgrade_headers(console))[0] == 101
    finally:
        console.stop()
        postgres_server.drop_database(url)
