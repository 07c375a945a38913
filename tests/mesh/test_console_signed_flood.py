"""A flood of forged console statements from an enrolled device, on a real node over real TLS (issue 18,
outside): the device relinks in a loop and sends, on each link, a burst of distinct statements that
fail the check. Each link is closed at its first (one signature verified, one protocol error, one log
line), relinking is refused past the device's budget (``net/links.py`` ``ACCEPTS``, logged once per
run of refusals), nothing is taken, and the node goes on serving an honest device."""

from __future__ import annotations

import base64
import datetime
from dataclasses import replace
from typing import Any

from meshpos.node import Node
from meshpos.sync import SignedConsole
from meshpos.trust.console_key import ConsoleChecker, issue_console_key, load_console_signing

from .attacker import Attacker
from .test_console_signed_node import SYNCED, attack, lie, started
from .test_security import (  # noqa: F401  (``mesh`` is the fixture)
    HOST,
    LEDGER,
    Mesh,
    logged,
    mesh,
    sell,
)

LINKS = 14  # links the device tries to open, back to back (its budget: a burst of 8)
BURST = 30  # forged statements it sends on each link before it reads anything


async def test_a_relinking_flood_of_forged_statements_is_bounded_and_takes_nothing(
    mesh: Mesh,  # noqa: F811  (the fixture, imported)
    caplog: Any,
) -> None:
    issue_console_key(mesh.authority)
    signing = load_console_signing(mesh.authority.directory, mesh.authority.venue_id)
    assert signing is not None
    r1: Node = await started(mesh, "R1", signed=True)
    await sell(r1)
    before = r1.status()
    checker = r1.engine.sync.config.console_check
    assert isinstance(checker, ConsoleChecker)
    verified: list[SignedConsole] = []
    real = checker._verify

    def counted(signed: SignedConsole, domain: bytes) -> tuple[str, datetime.datetime]:
        verified.append(signed)
        return real(signed, domain)

    checker._verify = counted  # type: ignore[method-assign]
    genuine = signing({"console": {LEDGER: {}}, "reports": {}, "unreported": (0, "")})
    assert genuine is not None
    identity = mesh.issue("E5", "register")
    accepted = refused = 0
    n = 0
    for _ in range(LINKS):
        try:
            evil = await Attacker.dial(identity, r1.node_id, HOST, r1.port)
            await evil.wait_for_hello()
        except Exception:  # refused past its budget (too_often)
            refused += 1
            continue
        accepted += 1
        try:
            await evil.send(evil.hello(client_id=7005))
            for _ in range(BURST):  # each distinct: a forged signature over the genuine body
                n += 1
                sig = base64.b64encode(n.to_bytes(70, "big")).decode()
                await evil.send(lie("E5", r1, n, replace(genuine, sig=sig)))
            await evil.wait_closed()
        finally:
            await evil.close()
    print(f"\n{accepted} links accepted, {refused} refused, {n} forged statements sent, "
          f"{len(verified)} verified")  # fmt: skip
    assert accepted >= 1
    assert refused >= 1  # (8 at once, then 0.5 a second)
    # one statement verified per link, each link closed as bad input once, and logged once
    assert len(verified) <= accepted
    closes = logged(caplog, "closing session with E5")
    assert len(closes) == accepted, closes
    assert all("console statement" in line for line in closes)
    assert r1.counters["protocol_errors"] == accepted
    assert r1.status().refusals.get("too_often") == refused
    assert 1 <= len(logged(caplog, "too_often")) <= refused
    # nothing taken
    assert r1.engine.sync.console_state(LEDGER) == {}
    assert r1.status().message != SYNCED
    assert r1.status().owed == before.owed
    # and an honest device is served as before
    honest = await attack(mesh, r1, "E6")
    try:
        assert await honest.fetch(LEDGER)
    finally:
        await honest.close()
