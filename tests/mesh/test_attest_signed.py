"""An enrolled device against "on k of n devices" (issue 18, sign: docs/architecture.md (Security)).

A real strict register (TLS websockets on loopback, a real SQLite file) and a hand-rolled attacker with a
genuine certificate of the venue (``attacker.py``):

* the attacker attests that other devices (real ones it names, or ones it invents in far records) hold
  the register's sale: unsigned, a strict register counts none of it (it said "on 3 of 4" before);
* the attacker passes on a word signed by itself but speaking for another device: refused as bad input,
  the link closed, nothing counted;
* "auto" believes the liar until the console's first statement, then forgets it at once;
* an honest strict venue of real nodes counts as before ("on 3 of 3").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from meshpos.harness.wait import until
from meshpos.node import Node
from meshpos.sync import Heartbeat, SignedConsole
from meshpos.sync._held_signed import word_body
from meshpos.sync._messages import FarRecord
from meshpos.trust.console_key import issue_console_key, load_console_signing
from meshpos.trust.device_word import DeviceWordSigner

from .attacker import WAIT, Attacker
from .kit import make_device
from .test_security import (  # noqa: F401  (``mesh`` is the fixture)
    HOST,
    LEDGER,
    Mesh,
    counter_is,
    link,
    logged,
    mesh,
    sell,
    state,
)


async def strict(mesh: Mesh, name: str) -> Node:  # noqa: F811
    """A register that takes the console's word only signed (and so attestations only proven)."""
    mesh.configs[name] = make_device(
        mesh.authority, mesh.root, name, heartbeat_interval=0.2, console_signed=True
    )
    return await mesh.node(name)


def own_client(node: Node) -> tuple[int, int]:
    """The node's client id this run and its clock in the ledger day: what a holder attests."""
    client = node.engine.sync.hello.client_id
    return client, state(node)["docs"][LEDGER][client]


async def beats(evil: Attacker, make: Callable[[int], Heartbeat], done: Callable[[], bool]) -> int:
    """Answer each of the node's heartbeats with one of ours until ``done()``, then three more (so
    whatever the node would take of them it took); the beats sent."""
    seq, extra = 0, 3
    async with asyncio.timeout(WAIT):
        while extra and not evil.closed:
            seen = len(evil.received)
            seq += 1
            await evil.send(make(seq))
            await evil.expect(lambda m: isinstance(m, Heartbeat), "a heartbeat", seen)
            if done():
                extra -= 1
    return seq


async def test_an_enrolled_device_cannot_inflate_a_strict_registers_count(
    mesh: Mesh,  # noqa: F811  (the fixture, imported)
) -> None:
    r1 = await strict(mesh, "R1")
    receipt = await sell(r1)
    client, clock = own_client(r1)
    assert r1.durability(receipt).devices == 1
    evil = await Attacker.dial(mesh.issue("E1", "register"), "R1", HOST, r1.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello(client_id=7001))
        # heard: R1 counts the invented devices in its "n" (far records: still open, Security)
        await beats(evil, inflating(client, clock), lambda: r1.durability(receipt).of >= 4)
        assert not evil.closed, evil.close_reason  # unsigned is not bad input: only not believed
        assert r1.durability(receipt).devices == 1, r1.durability(receipt)  # main: 3
    finally:
        await evil.close()


def inflating(
    client: int, clock: int, signed: SignedConsole | None = None
) -> Callable[[int], Heartbeat]:
    """E1's beats: far records inventing X1 and X2, and attestations that both hold the sale."""
    invented = ("X1", "X2")

    def lie(seq: int) -> Heartbeat:
        return Heartbeat(
            node="E1",
            role="register",
            priority=1,
            uplink=False,
            relay=False,
            seq=seq,
            far=tuple(
                FarRecord(x, "register", 1, False, False, seq, client=8000 + k)
                for k, x in enumerate(invented)
            ),
            held={x: {LEDGER: {client: clock}} for x in invented},
            signed=signed,
        )

    return lie


async def test_auto_forgets_what_it_believed_unsigned_once_the_console_signs(
    mesh: Mesh,  # noqa: F811  (the fixture, imported)
) -> None:
    """``console_signed = "auto"`` (the default) before the console's first statement believes the
    liar, as a venue without a console key always did; the console's genuine statement, passed on by
    the liar itself, turns the node strict and the invented holders are forgotten at once. Fails
    before: the count stayed "on 3" after the statement."""
    issue_console_key(mesh.authority)
    signing = load_console_signing(mesh.authority.directory, mesh.authority.venue_id)
    assert signing is not None
    r1 = await mesh.node("R1")
    assert r1.config.console_signed == "auto"
    receipt = await sell(r1)
    client, clock = own_client(r1)
    evil = await Attacker.dial(mesh.issue("E1", "register"), "R1", HOST, r1.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello(client_id=7001))
        await beats(evil, inflating(client, clock), lambda: r1.durability(receipt).devices == 3)
        assert not r1.engine.sync.statements.strict
        nothing = signing({"console": {LEDGER: {}}, "reports": {}, "unreported": (0, "")})
        await beats(
            evil, inflating(client, clock, nothing), lambda: r1.engine.sync.statements.strict
        )
        assert not evil.closed, evil.byes
        assert r1.durability(receipt).devices == 1, r1.durability(receipt)  # main: 3
    finally:
        await evil.close()


async def test_a_word_signed_by_another_device_is_refused(
    mesh: Mesh,  # noqa: F811  (the fixture, imported)
) -> None:
    r1 = await strict(mesh, "R1")
    r2 = await mesh.node("R2")  # a real device the liar speaks for
    receipt = await sell(r1)
    client, clock = own_client(r1)
    identity = mesh.issue("E1", "register")
    forged = DeviceWordSigner(identity)(
        word_body("R2", identity.venue_id, {LEDGER: {client: clock}})
    )
    evil = await Attacker.dial(identity, "R1", HOST, r1.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello(client_id=7001))

        def lie(seq: int) -> Heartbeat:
            return Heartbeat(
                node="E1",
                role="register",
                priority=1,
                uplink=False,
                relay=False,
                seq=seq,
                far=(
                    FarRecord(
                        "R2",
                        "register",
                        1,
                        False,
                        False,
                        seq,
                        client=r2.engine.sync.hello.client_id,
                    ),
                ),
                helds=(forged,) if seq > 2 else (),
            )

        for seq in (1, 2, 3):  # (the third carries the forged word)
            seen = len(evil.received)
            await evil.send(lie(seq))
            if seq < 3:
                await evil.expect(lambda m: isinstance(m, Heartbeat), "a heartbeat", seen)
        await until(lambda: evil.closed, WAIT, "R1 to close the liar's link")
        assert "signed attestation of 'R2'" in " ".join(evil.byes), evil.byes
        assert r1.durability(receipt).devices == 1
        await until(counter_is(r1, "protocol_errors", 1), WAIT, "the refusal counted")
    finally:
        await evil.close()


async def test_an_honest_strict_venue_counts_as_before(
    mesh: Mesh,  # noqa: F811  (the fixture, imported)
) -> None:
    """Three strict real nodes, each linked to the others: each word is heard from its own node
    (the link is the proof), so the count is whole ("on 3 of 3"). Beyond the links (a word passed
    on, signed): tests/sync/test_sync_held_signed.py (real nodes link every pair up to 5)."""
    r1, r2, r3 = [await strict(mesh, name) for name in ("R1", "R2", "R3")]
    await link(r1, r2)
    await link(r1, r3)
    await link(r2, r3)
    receipt = await sell(r1)
    await until(
        lambda: (r1.durability(receipt).devices, r1.durability(receipt).of) == (3, 3),
        WAIT,
        "R1 to count R2 and R3",
        on=[r1, r2, r3],
    )
