"""An enrolled device against the heartbeat fields of the bounded topology (issue 18): ``held``
(attestations), ``farc`` (far records as arrays) and ``console``/``reports`` (the console's state, which
every node passes on). A real node (TLS websockets on loopback) and a hand-rolled attacker with a
genuine certificate of the venue (``attacker.py``).

* Malformed or oversized entries close the link with the field named, in the goodbye and in one log
  line naming the device; nothing the node holds changes.
* A stream of well-formed heartbeats naming new nodes, client ids and registers in every beat leaves
  the node bounded (``sync/_claims.py``), counts the refusals and logs them once per device and cause.

What a well-formed forgery can still claim (the console holds everything) is written down in
docs/architecture.md (Security): it is not closed here."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from meshpos.harness.wait import until
from meshpos.sync import Heartbeat
from meshpos.sync._bodies import MAX_JSON_DOCS, MAX_STATE_CLIENTS
from meshpos.sync._budget import PeerBudget
from meshpos.sync._claims import MAX_FAR_NODES
from meshpos.sync._codec import HEARTBEAT
from meshpos.sync._held import MAX_HELD
from meshpos.sync._messages import FarRecord

from .attacker import WAIT, Attacker
from .test_security import (  # noqa: F401  (``mesh`` is the fixture)
    HOST,
    LEDGER,
    Mesh,
    counter_is,
    logged,
    mesh,
    sell,
    state,
)

BEAT: dict[str, Any] = {
    "node": "K0",
    "role": "kds",
    "priority": 100,
    "uplink": False,
    "relay": False,
    "seq": 1,
    "console": {},
    "pending": {},
    "peers": [],
}
FARC_ROW = ["register", 100, 1, 0, 17, 0, 123]
FLOOD_BEATS = 60  # each table passes its bound: 3,600 nodes (1,024), 30,720 clients (4,096)
NEW_PER_BEAT = 60


def raw(node: str, **fields: Any) -> bytes:
    """A heartbeat from ``node`` with ``fields`` as they are on the wire (JSON, any content)."""
    return bytes([HEARTBEAT]) + json.dumps({**BEAT, "node": node, **fields}).encode()


def malformed() -> list[tuple[str, dict[str, Any], str]]:
    """(what, the heartbeat's fields, what the goodbye names)."""
    return [
        ("held: lone surrogate node", {"held": {"\ud800": {LEDGER: {"1": 1}}}}, "field 'held'"),
        ("held: clock 10**30", {"held": {"R2": {LEDGER: {"1": 10**30}}}}, "field 'held' for 'R2'"),
        ("held: not a ledger", {"held": {"R2": {"catalog": {"1": 1}}}}, "names no ledger"),
        (
            "held: too many",
            {"held": {f"R{i}": {LEDGER: {"1": 1}} for i in range(MAX_HELD + 1)}},
            f"more than {MAX_HELD} entries",
        ),
        ("heldc: clock 0", {"heldc": {LEDGER: [[1, 0, "R2"]]}}, "field 'heldc' for"),
        ("heldc: node twice", {"heldc": {LEDGER: [[1, 1, "R2", "R2"]]}}, "R2 twice for 1"),
        ("farc: 9 fields", {"farc": {"R2": [*FARC_ROW, "x", "y"]}}, "field 'farc' for 'R2'"),
        ("farc: uplink 2", {"farc": {"R2": ["register", 100, 2, 0, 17, 0, 123]}}, "uplink must"),
        ("farc: role", {"farc": {"R2": ["console!", 100, 1, 0, 17, 0, 123]}}, "field 'farc' for"),
        (
            "farc: too many",
            {"farc": {f"R{i}": FARC_ROW for i in range(65)}},
            "field 'farc' must be an object",
        ),
        ("console: client x", {"console": {LEDGER: {"x": 1}}}, "field 'console' has client"),
        (
            "console: oversized",
            {"console": {LEDGER: {str(i + 1): 1 for i in range(MAX_STATE_CLIENTS + 1)}}},
            "is not a state vector",
        ),
        (
            "reports: a kind nobody counts",
            {"reports": {LEDGER: {"R1": {"gold": 1}}}},
            "field 'reports'",
        ),
    ]


async def test_malformed_attestations_far_records_and_console_state_close_the_link(
    mesh: Mesh,  # noqa: F811  (the fixture, imported)
    caplog: pytest.LogCaptureFixture,
) -> None:
    r1 = await mesh.node("R1")
    await sell(r1)
    before = state(r1)
    cases = malformed()
    for i, (what, fields, reason) in enumerate(cases):
        device = f"K{i}"
        evil = await Attacker.dial(mesh.issue(device, "kds"), "R1", HOST, r1.port)
        try:
            await evil.wait_for_hello()
            await evil.send(evil.hello(client_id=1000 + i))
            await evil.send_raw(raw(device, **fields))
            await evil.wait_closed()
        finally:
            await evil.close()
        assert len(evil.byes) == 1, (what, evil.byes)
        assert reason in evil.byes[0], (what, evil.byes)
        await until(counter_is(r1, "protocol_errors", i + 1), WAIT, f"protocol error of {what}")
        assert len(logged(caplog, f"closing session with {device}: ", reason)) == 1, what
        assert state(r1) == before, what
    sync = r1.engine.sync
    assert not sync.claim_refusals.counts  # nothing of a refused heartbeat was taken


async def test_a_device_naming_new_nodes_and_clients_in_every_beat_leaves_the_node_bounded(
    mesh: Mesh,  # noqa: F811  (the fixture, imported)
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="meshpos.sync")
    r1 = await mesh.node("R1")
    await sell(r1)
    before = state(r1)
    sync = r1.engine.sync
    assert LEDGER in sync.docs
    evil = await Attacker.dial(mesh.issue("E1", "register"), "R1", HOST, r1.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello(client_id=777))
        for n in range(FLOOD_BEATS):
            fake = [f"X{n:04d}-{k:02d}" for k in range(NEW_PER_BEAT)]
            beat = Heartbeat(
                node="E1",
                role="register",
                priority=100,
                uplink=False,
                relay=False,
                seq=n + 1,
                console={LEDGER: {10**12 + n * 512 + k: 1 for k in range(512)}},
                reports={LEDGER: {node: {"receipts": 1} for node in fake}},
                far=tuple(FarRecord(node, "register", 1_000_000, False, False, 1) for node in fake),
                gone={f"G{n:04d}-{k:02d}": 1 for k in range(NEW_PER_BEAT)},
                # attestations of clients nobody announced and of days nobody opened
                held={"E1": {LEDGER: {10**12 + n: 5}, f"ledger/2001-01-{n % 28 + 1:02d}": {1: 5}}},
            )
            # one beat per beat of R1's (at most 20 a second, TRIGGER_SPACING): within the
            # heartbeat budget (40 a second), so this is no abuse, only claims
            await evil.expect(
                lambda m: isinstance(m, Heartbeat), "R1's next heartbeat", len(evil.received)
            )
            await evil.send(beat)
        await until(
            lambda: sync.claim_refusals.counts.get("far_nodes_full", 0) > 0,
            WAIT,
            "R1 to refuse far records past its bound",
        )
        assert not evil.closed, evil.close_reason  # well-formed, within the budget: not abuse
        # (its own links' gone notes come on top: a loaded machine may mark E1 gone for a beat)
        assert sync._far.size() <= MAX_FAR_NODES + len(sync.sessions)
        assert len(sync.console_state(LEDGER)) <= MAX_STATE_CLIENTS
        assert len(sync.console_reports(LEDGER)) <= MAX_JSON_DOCS
    finally:
        await evil.close()
    counts = sync.claim_refusals.counts
    assert set(counts) == {"far_nodes_full", "console_clients_full", "console_registers_full"}
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for cause in counts:  # said once, naming the device and the cause; the rest counted
        said = [m for m in warned if m.startswith("refused") and "from E1" in m and cause in m]
        assert len(said) == 1, (cause, said)
    assert sync._attested.kept("E1") == []  # no attestation about what does not exist
    assert state(r1) == before  # no document changed


async def test_a_device_sending_huge_heartbeats_is_cut_off_before_they_are_decoded(
    mesh: Mesh,  # noqa: F811  (the fixture, imported)
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A heartbeat's JSON is decoded whole before anything else looks at it (a 4 MB one took
    ~0.25 s of CPU, and the heartbeat budget let 64 of them in at once). Its bytes have a budget,
    charged before the decode: a device sending ~1 MB beats is cut off as abusive, logged once."""
    r1 = await mesh.node("R1")
    await sell(r1)
    before = state(r1)
    budget = PeerBudget().heartbeat_bytes  # (the node's sessions keep the default)
    days = [f"ledger/2001-{m:02d}-{d:02d}" for m in (1, 2) for d in range(1, 9)]
    big = raw(
        "E2",
        role="register",
        console={day: {str(10**6 + k): 1 for k in range(4096)} for day in days},
    )
    assert len(big) * 16 > budget.burst  # 16 of them pass the burst
    evil = await Attacker.dial(mesh.issue("E2", "register"), "R1", HOST, r1.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello(client_id=778))
        # 16 pass the burst; the budget refills while a loaded node reads them (256 kB/s): send on
        # until it cuts us off, bounded (the full run at load 15-20 read 16 and refilled past them)
        for _ in range(64):
            if evil.closed:
                break
            await evil.send_raw(big)
        reason = await evil.wait_closed()
    finally:
        await evil.close()
    assert evil.byes, reason
    assert "abusive: more bytes of heartbeats than the budget" in evil.byes[0], evil.byes
    assert len(logged(caplog, "closing session with E2: ", "bytes of heartbeats")) == 1
    assert state(r1) == before
