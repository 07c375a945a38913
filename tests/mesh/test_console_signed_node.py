"""An enrolled device against what a register believes the console holds (issue 18, signed: the Known
gap of docs/architecture.md (Security)). A real node (TLS websockets on loopback) and a hand-rolled
attacker with a genuine certificate of the venue (``attacker.py``) that claims the relay role and says
the console holds and reports every write of the register.

* Signing off (as before this change): the register says "All data is synced" and owes nothing.
* Signing on (``console_signed``): the same lie moves nothing; a statement whose signature does not
  match closes the link with ``console_signature_refused`` named; the console's genuine statement,
  passed on by the same device, moves the register to synced (who passes it on does not matter)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from meshpos.harness.wait import until
from meshpos.node import Node
from meshpos.sync import Heartbeat, SignedConsole
from meshpos.trust.console_key import issue_console_key, load_console_signing

from .attacker import Attacker
from .kit import make_device
from .test_security import (  # noqa: F401  (``mesh`` is the fixture)
    HOST,
    LEDGER,
    WAIT,
    Mesh,
    counter_is,
    logged,
    mesh,
    sell,
    state,
)

SYNCED = "All data is synced"


async def started(mesh: Mesh, name: str, *, signed: bool) -> Node:  # noqa: F811
    mesh.configs[name] = make_device(
        mesh.authority, mesh.root, name, heartbeat_interval=0.2, console_signed=signed
    )
    return await mesh.node(name)


def lie(device: str, node: Node, seq: int, signed: SignedConsole | None = None) -> Heartbeat:
    """A relay claim saying the console holds every write of ``node`` and reports all its records."""
    status = node.status()
    return Heartbeat(
        node=device,
        role="register",
        priority=1,
        uplink=True,
        relay=True,
        seq=seq,
        console=state(node)["docs"],  # every document's state: all of it "at the console"
        reports={LEDGER: {node.node_id: dict(status.owed)}},
        signed=signed,
    )


async def beat_until(
    evil: Attacker, beats: Callable[[int], Heartbeat], done: Callable[[], bool], what: str
) -> None:
    """Answer each of the node's heartbeats with one of ours until ``done()`` (or the link closes)."""
    seq = 0
    async with asyncio.timeout(WAIT):
        while not done() and not evil.closed:
            seen = len(evil.received)
            seq += 1
            await evil.send(beats(seq))
            await evil.expect(lambda m: isinstance(m, Heartbeat), f"{what}: a heartbeat", seen)


async def attack(mesh: Mesh, node: Node, device: str) -> Attacker:  # noqa: F811
    evil = await Attacker.dial(mesh.issue(device, "register"), node.node_id, HOST, node.port)
    await evil.wait_for_hello()
    await evil.send(evil.hello(client_id=7000 + len(device)))
    return evil


async def test_an_enrolled_device_cannot_make_a_signing_register_say_synced(
    mesh: Mesh,  # noqa: F811  (the fixture, imported)
) -> None:
    # signing off: the lie works (the gap this closes)
    plain = await started(mesh, "R2", signed=False)
    await sell(plain)
    assert plain.status().message != SYNCED
    evil = await attack(mesh, plain, "E1")
    try:
        await beat_until(
            evil, lambda n: lie("E1", plain, n), lambda: plain.status().message == SYNCED, "plain"
        )
        assert plain.status().message == SYNCED, plain.status()
        assert not any(plain.status().owed.values())
    finally:
        await evil.close()

    # signing on: the same lie, as many beats as the node sends meanwhile, moves nothing
    r1 = await started(mesh, "R1", signed=True)
    await sell(r1)
    before = r1.status()
    assert any(before.owed.values())
    evil = await attack(mesh, r1, "E2")
    try:
        relayed = 0

        def adopted_for_a_while() -> bool:
            nonlocal relayed
            relayed += r1.status().relay == "E2"
            return relayed >= 10  # ten of its statuses named E2 the relay: the lie was heard

        await beat_until(evil, lambda n: lie("E2", r1, n), adopted_for_a_while, "signing")
        assert not evil.closed, evil.byes  # an unsigned claim is not bad input: only not believed
        after = r1.status()
        assert after.relay == "E2"
        assert after.message != SYNCED
        assert after.label != "Synced"
        assert after.owed == before.owed
        assert after.pending == before.pending > 0
        assert r1.engine.sync.console_state(LEDGER) == {}
    finally:
        await evil.close()


async def test_a_forged_statement_closes_the_link_and_a_genuine_one_moves_the_status(
    mesh: Mesh,  # noqa: F811  (the fixture, imported)
    caplog: Any,
) -> None:
    issue_console_key(mesh.authority)
    signing = load_console_signing(mesh.authority.directory, mesh.authority.venue_id)
    assert signing is not None
    r1 = await started(mesh, "R1", signed=True)
    await sell(r1)
    before = r1.status()
    genuine = signing(
        {
            "console": state(r1)["docs"],
            "reports": {LEDGER: {"R1": dict(before.owed)}},
            "unreported": (0, ""),
        }
    )
    # the console's statement with its state changed on the way (the console said it holds nothing)
    honest = signing({"console": {LEDGER: {}}, "reports": {}, "unreported": (0, "")})
    forged = SignedConsole(genuine.body, honest.cert, honest.sig)
    evil = await attack(mesh, r1, "E3")
    try:
        await evil.send(lie("E3", r1, 1, forged))
        reason = await evil.wait_closed()
    finally:
        await evil.close()
    assert "console statement" in " ".join(evil.byes) + reason, (evil.byes, reason)
    await until(counter_is(r1, "protocol_errors", 1), WAIT, "the forged statement's protocol error")
    assert logged(caplog, "closing session with E3", "console statement")
    assert r1.status().message != SYNCED
    assert r1.status().owed == before.owed

    # the genuine statement, passed on by any device (here an enrolled one): believed, and synced
    evil = await attack(mesh, r1, "E4")
    try:
        await beat_until(
            evil,
            lambda n: lie("E4", r1, n, genuine),
            lambda: r1.status().message == SYNCED,
            "genuine",
        )
        assert not evil.closed
        assert not any(r1.status().owed.values())
    finally:
        await evil.close()
