"""An enrolled device against what a register believes the console holds (issue 18, signed: the Known
gap of docs/architecture.md (Security)). A real node (TLS websockets on loopback) and a hand-rolled
attacker with a genuine certificate of the venue (``attacker.py``) that claims the relay role and says
the console holds and reports every write of the register.

* Signing off (as before this change): the register says "All data is synced" and owes nothing.
* "auto" (the default, issue 18, sticky): the lie works until the console's first genuine statement,
  then moves nothing, also after the node restarts (remembered in its data directory).
* Signing on (``console_signed``): the same lie moves nothing; a statement whose signature does not
  match closes the link with ``console_signature_refused`` named; the console's genuine statement,
  passed on by the same device, moves the register to synced (who passes it on does not matter)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from meshpos.config import load_config
from meshpos.harness.wait import until
from meshpos.node import Node
from meshpos.node_adapters import make_node
from meshpos.node_status import NodeStatus
from meshpos.sync import Heartbeat, SignedConsole
from meshpos.trust.console_key import issue_console_key, load_console_signing
from meshpos.trust.console_strict import STRICT_FILE

from .attacker import WAIT, Attacker
from .kit import make_device
from .test_security import (  # noqa: F401  (``mesh`` is the fixture)
    HOST,
    LEDGER,
    NOW,
    Mesh,
    counter_is,
    logged,
    mesh,
    sell,
    state,
)

SYNCED = "All data is synced"


async def started(mesh: Mesh, name: str, *, signed: bool, **settings: Any) -> Node:  # noqa: F811
    """``name`` enrolled and started; ``settings``: more of its node.toml."""
    mesh.configs[name] = make_device(
        mesh.authority, mesh.root, name, heartbeat_interval=0.2, console_signed=signed, **settings
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


def heard(node: Node, device: str) -> Callable[[], bool]:
    """Done once ten of ``node``'s statuses named ``device`` the relay: its lie was heard."""
    named = 0

    def done() -> bool:
        nonlocal named
        named += node.status().relay == device
        return named >= 10

    return done


async def lie_moves_nothing(
    mesh: Mesh,  # noqa: F811
    node: Node,
    device: str,
    before: NodeStatus,
) -> None:
    """An enrolled ``device`` lies to a strict ``node`` until the node heard it: nothing moves."""
    evil = await attack(mesh, node, device)
    try:
        await beat_until(evil, lambda n: lie(device, node, n), heard(node, device), device)
        assert not evil.closed, evil.byes  # an unsigned claim is not bad input: only not believed
        assert node.status().message != SYNCED
        assert node.status().owed == before.owed
        assert node.engine.sync.console_state(LEDGER) == {}
    finally:
        await evil.close()


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
        await beat_until(evil, lambda n: lie("E2", r1, n), heard(r1, "E2"), "signing")
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
    assert genuine is not None
    assert honest is not None
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


async def test_auto_believes_until_the_console_signs_and_stays_strict_after_a_restart(
    mesh: Mesh,  # noqa: F811  (the fixture, imported)
) -> None:
    """``console_signed`` unset ("auto"): before any statement of the venue's console an enrolled
    device's lie is believed (as before: a venue with no console key keeps working); the console's
    genuine statement, passed on by any device, turns the node strict at once (what it believed is
    forgotten: not synced again), and a restart of the node keeps it strict (``console-signed`` in
    its data directory). Fails before: with "auto" as signing off, the lie after the statement and
    after the restart makes it say "All data is synced"."""
    issue_console_key(mesh.authority)
    signing = load_console_signing(mesh.authority.directory, mesh.authority.venue_id)
    assert signing is not None
    path = make_device(mesh.authority, mesh.root, "R1", heartbeat_interval=0.2)
    config = load_config(path, env={})
    assert config.console_signed == "auto"
    strict = config.data_dir / STRICT_FILE
    async with make_node(config, discovery=False, clock=lambda: NOW) as r1:
        await sell(r1)
        before = r1.status()
        evil = await attack(mesh, r1, "E1")
        try:  # no statement yet: believed, as with signing off
            await beat_until(
                evil, lambda n: lie("E1", r1, n), lambda: r1.status().message == SYNCED, "lenient"
            )
            assert r1.status().message == SYNCED
            # the console's genuine statement (it holds nothing yet), passed on with the same lie
            nothing = signing({"console": {LEDGER: {}}, "reports": {}, "unreported": (0, "")})
            await beat_until(
                evil,
                lambda n: lie("E1", r1, n, nothing),
                lambda: r1.status().message != SYNCED,
                "strict",
            )
            assert not evil.closed
            assert strict.exists()
            assert r1.status().owed == before.owed
            assert r1.engine.sync.console_state(LEDGER) == {}
        finally:
            await evil.close()

    async with make_node(config, discovery=False, clock=lambda: NOW) as again:
        assert again.engine.sync.statements.strict  # strict from its start
        await lie_moves_nothing(mesh, again, "E2", before)


async def test_a_device_enrolled_with_the_console_s_certificate_is_strict_from_its_first_start(
    mesh: Mesh,  # noqa: F811  (the fixture, imported)
) -> None:
    """Enrolment hands a device the console's certificate when the venue has one (``enroll``; here
    put where it keeps it): "auto" is strict from the first start, so there is no window in which
    an enrolled device's unsigned lie is believed. Fails before: the lie makes it say synced."""
    cert = issue_console_key(mesh.authority)
    path = make_device(mesh.authority, mesh.root, "R1", heartbeat_interval=0.2)
    config = load_config(path, env={})
    (config.identity_path / cert.name).write_text(cert.read_text())
    async with make_node(config, discovery=False, clock=lambda: NOW) as r1:
        assert r1.engine.sync.statements.strict
        await sell(r1)
        before = r1.status()
        await lie_moves_nothing(mesh, r1, "E1", before)
    assert not (config.data_dir / STRICT_FILE).exists()  # (strict by its pin, nothing to remember)
