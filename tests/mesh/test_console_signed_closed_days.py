"""A register that was away when the day closed, strict about the console's word (issue 18, closed),
with real processes: a console with its signing key and two registers on loopback.

R1 and R2 held two past days open (synced long ago). R1 starts alone: it brings the days to the
console, and both close them. Then R2 starts with ``console_signed = true``: the console's state of
those days reaches it only in the console's signed statement (``sync/_closed.py``), which it takes,
so it learns the console holds them and closes them too. Before, the closed days' state came only in
unsigned beats, which a strict register ignores: R2 kept the days open, "not at the console".
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for

from .kit import NodeProcess, make_device
from .test_business_days import (
    HEARTBEAT_S,
    IDLE_S,
    Bed,
    business_bed,
    closed_here,
    days,
    past_day,
    write_days,
)


@pytest.fixture
def signed_bed(tmp_path: Path) -> Iterator[Bed]:
    with business_bed(tmp_path, console_key=True) as made:
        yield made


def register(bed: Bed, name: str, index: int, *, signed: bool) -> NodeProcess:
    """A register as ``Bed.register`` makes it, ``console_signed`` set."""
    config = make_device(
        bed.authority,
        bed.root,
        name,
        host=f"{bed.prefix}.{index}",
        heartbeat_interval=HEARTBEAT_S,
        day_idle_seconds=IDLE_S,
        priority=index,
        console_url=f"ws://127.0.0.1:{bed.console.port}",
        console_token=bed.authority.console_token,
        console_signed=signed,
    )
    bed.nodes[name] = NodeProcess(config, bed.root / f"{name}.log")
    return bed.nodes[name]


def test_a_strict_register_away_when_the_console_closed_the_days_closes_them_when_back(
    signed_bed: Bed,
) -> None:
    bed = signed_bed
    now_ms = int(time.time() * 1000)
    old = [past_day(3, now_ms), past_day(2, now_ms)]
    dates = {d.date for d in old}
    r1, r2 = register(bed, "R1", 11, signed=True), register(bed, "R2", 12, signed=True)
    for node in (r1, r2):
        write_days(node.config, old)  # both held them (synced long ago)
    r1.start()  # R2 is away
    venue_path = f"/api/venues/{bed.authority.venue_id}/status"
    wait_for(
        lambda: (
            {f"ledger/{d}" for d in dates}
            <= set(bed.console.call("GET", venue_path)["closed_days"])
            and closed_here(r1, dates)
        ),
        120,  # (the console's closer and materialisation took ~60 s once under load)
        "the past days closed at the console and on R1",
        on=[r1.events],
        every=0.5,  # the console's side: R1's events do not announce it
    )
    r2.start()
    assert dates <= set(days(r2)["loaded"])  # open in its store: loaded at start
    wait_for(
        lambda: closed_here(r2, dates),
        60,
        "R2 learnt, signed, that the console holds the days, and closed them",
        on=[r2.events],
    )
    assert {f"ledger/{d}" for d in dates} <= set(
        bed.console.call("GET", venue_path)["closed_days"]
    )  # nothing reopened at the console
