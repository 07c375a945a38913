"""Green only while the console is heard now (issue 18, fresh; docs/architecture.md (Security)).

A real strict node (TLS websockets on loopback) and a hand-rolled enrolled device (``attacker.py``, a
genuine certificate of the venue) that claims the relay role with uplink and passes on statements the
venue's console genuinely signed: it cannot sign, but it can replay, hold back and withhold.

* Replaying the console's latest statement: green until the statement is ``console_fresh_s`` old, then
  yellow saying the console has not confirmed it hears the venue.
* Drip-feeding statements the console signed earlier, each newer than the one before and arriving in
  time: judged by their age (the console's time on the node's monotonic clock, its lead), yellow.
* Passing the console's fresh word on but withholding the node's data: yellow within
  ``upload_bound_s``, naming the relay device; green again once the console's word covers the data.

Each fails before the change: the node stayed green on the relay's claim. The bounds are shortened
for the test in the node's node.toml (``console_fresh_s``, ``upload_bound_s``: settings since the
sixteenth session, part tidy; before, the test set them in the synchronizer's config)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable

from meshpos.node import Node
from meshpos.node_status import NodeStatus
from meshpos.sync import Heartbeat, SignedConsole
from meshpos.trust.console_key import ConsoleSigning, issue_console_key, load_console_signing

from .test_console_signed_node import SYNCED, attack, beat_until, lie, started
from .test_security import LEDGER, Mesh, mesh, sell, state  # noqa: F401  (``mesh``: the fixture)

FRESH_S = 3.0  # the test's bounds (node.toml; the shortest meshpos.config takes): seconds, on the
UPLOAD_S = 3.0  # node's monotonic clock
UNHEARD = "has not confirmed"


async def signed_node(mesh: Mesh) -> tuple[Node, ConsoleSigning]:  # noqa: F811
    issue_console_key(mesh.authority)
    signing = load_console_signing(mesh.authority.directory, mesh.authority.venue_id)
    assert signing is not None
    r1 = await started(mesh, "R1", signed=True, console_fresh_s=FRESH_S, upload_bound_s=UPLOAD_S)
    config = r1.engine.sync.config  # node.toml's bounds are the synchronizer's
    assert (config.console_fresh_s, config.upload_bound_s) == (FRESH_S, UPLOAD_S)
    await sell(r1)
    return r1, signing


def covering(node: Node, signing: ConsoleSigning, at: float | None = None) -> SignedConsole:
    """The console's genuine statement that it holds and reports all of ``node``'s data, signed now
    or at ``at`` (seconds since the epoch: a statement the console signed then)."""
    content = {
        "console": state(node)["docs"],
        "reports": {LEDGER: {node.node_id: dict(node.status().owed)}},
        "unreported": (0, ""),
    }
    if at is None:
        signed = signing(content)
        assert signed is not None
        return signed
    return signing.sign(content, datetime.datetime.fromtimestamp(at, datetime.UTC))


def shows(node: Node, colour: str, *words: str) -> Callable[[], bool]:
    def done() -> bool:
        status = node.status()
        return status.colour == colour and all(w in status.message for w in words)

    return done


def relayed_by(node: Node, device: str) -> NodeStatus:
    status = node.status()
    assert status.relay == device, status
    return status


async def test_a_replayed_statement_is_green_only_until_it_is_stale(
    mesh: Mesh,  # noqa: F811
) -> None:
    r1, signing = await signed_node(mesh)
    genuine = covering(r1, signing)
    evil = await attack(mesh, r1, "E1")
    try:

        def replay(n: int) -> Heartbeat:
            return lie("E1", r1, n, genuine)

        # the console's word arrives: green and synced, as before
        await beat_until(evil, replay, shows(r1, "green", SYNCED), "synced")
        relayed_by(r1, "E1")
        # the same statement again and again: not newer, so the console is not heard any more
        await beat_until(evil, replay, shows(r1, "yellow", UNHEARD, "E1"), "stale")
        status = relayed_by(r1, "E1")
        assert status.label != "Synced"
        assert not evil.closed  # a stale statement is no bad input: only not evidence
    finally:
        await evil.close()


async def test_statements_held_back_and_drip_fed_are_judged_by_their_age(
    mesh: Mesh,  # noqa: F811
) -> None:
    """The console signed one statement every 0.5 s; the relay passes one on every second, each
    newer than the one before and in time (arrival alone would stay green): each is older than the
    last by half a second more, so within a few seconds they are older than the bound."""
    r1, signing = await signed_node(mesh)
    start_wall, start = time.time(), time.monotonic()
    drip: dict[int, SignedConsole] = {}

    def dripped(n: int) -> Heartbeat:
        k = int(time.monotonic() - start)  # one more statement each second
        if k not in drip:
            drip[k] = covering(r1, signing, at=start_wall + k * 0.5)
        return lie("E2", r1, n, drip[k])

    evil = await attack(mesh, r1, "E2")
    try:
        await beat_until(evil, dripped, lambda: r1.status().colour == "green", "green")
        await beat_until(evil, dripped, shows(r1, "yellow", UNHEARD), "held back")
        assert len(drip) >= 2  # newer statements kept arriving meanwhile
        relayed_by(r1, "E2")
    finally:
        await evil.close()


async def test_a_relay_that_passes_the_console_s_word_but_withholds_the_data_is_named(
    mesh: Mesh,  # noqa: F811
) -> None:
    r1, signing = await signed_node(mesh)
    nothing = {"console": {LEDGER: {}}, "reports": {}, "unreported": (0, "")}

    def fresh_but_withheld(n: int) -> Heartbeat:
        signed = signing(nothing)  # the console's genuine word, now: it holds none of R1's data
        return lie("E3", r1, n, signed)

    evil = await attack(mesh, r1, "E3")
    try:
        await beat_until(evil, fresh_but_withheld, lambda: r1.status().relay == "E3", "relay")
        await beat_until(
            evil,
            fresh_but_withheld,
            shows(r1, "yellow", "is not at the console: the relay E3", "check E3"),
            "withheld",
        )
        assert UNHEARD not in r1.status().message  # the console is heard: the data is not taken
        # the console's word covers the data: green again
        await beat_until(
            evil,
            lambda n: lie("E3", r1, n, covering(r1, signing)),
            shows(r1, "green", SYNCED),
            "taken",
        )
    finally:
        await evil.close()
