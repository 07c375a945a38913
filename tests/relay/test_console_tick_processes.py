"""The console's "I hear you" at rest, small (issue 18, tick; ``sync/_tick.py``), end to end with real
processes: the venue of ``test_console_fresh_processes`` (a console with its signing key, R1 and R2
linked to it, R3 only through them; all strict; TLS websockets and mDNS on loopback) at rest, and an
enrolled device E2 (a genuine certificate, announcing this build's features) linked to R3 that only
listens and beats.

At rest, for longer than the freshness bound (``console_fresh_s``, 10 s): every register stays green
and synced, and what R3 passes on of the console's word is one statement and then ticks, each a few
hundred bytes. Fails before the change: R3 passed on the whole statement again every ~2 s, and no
tick."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from meshpos.harness.wait import wait_for
from meshpos.sync import Heartbeat

from ..mesh.attacker import Attacker
from ..trust.helpers import issue_identity
from .test_console_fresh_processes import colours, synced, venue

AT_REST_S = 14.0  # longer than the freshness bound (SyncConfig.console_fresh_s, 10 s)


async def test_an_idle_venue_stays_green_on_one_statement_and_small_ticks(tmp_path: Path) -> None:
    with venue(tmp_path) as (authority, nodes, prefix):
        events = [n.events for n in nodes.values()]
        wait_for(lambda: synced(nodes), 60, "the venue green and synced", on=events)
        r3 = nodes["R3"]
        identity = issue_identity(authority, "E2", "register")
        listener = await Attacker.dial(identity, "R3", f"{prefix}.23", r3.port)
        try:
            await listener.wait_for_hello()
            await listener.send(listener.hello(client_id=7002))
            seq, start, end = 0, len(listener.received), time.monotonic() + AT_REST_S
            async with asyncio.timeout(AT_REST_S + 30):
                while time.monotonic() < end:  # beat back on each of R3's beats: a live peer
                    seen = len(listener.received)
                    await listener.expect(lambda m: isinstance(m, Heartbeat), "R3's beat", seen)
                    seq += 1
                    beat = Heartbeat("E2", "register", 1000, False, False, seq, {}, {})
                    await listener.send(beat)
                    for name, shown in colours(nodes).items():
                        assert shown == ("green", "All data is synced"), (name, shown)
            beats = [m for m in listener.received[start:] if isinstance(m, Heartbeat)]
        finally:
            await listener.close()
        statements = {b.signed for b in beats if b.signed is not None}
        ticks = [t for b in beats if (t := getattr(b, "tick", None)) is not None]  # (none before)
        assert len(statements) <= 2, len(statements)  # (a late move at the console: one more)
        assert len(ticks) >= AT_REST_S / 2.5, len(ticks)
        assert len(set(ticks)) == len(ticks)  # each tick passed on once
        sizes = {len(json.dumps({"tick": {"b": t.body, "s": t.sig}})) for t in ticks}
        assert max(sizes) < 300, sizes
