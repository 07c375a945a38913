"""Two Z reports pressed at once on the last two registers end the business day, with real processes.

Each register's Z sees the other's shift still open, so neither ends the day when pressed (before,
nothing ended it later either: only Close day did). Now the day ends with its last Z: once both
closes have met, the register whose Z closed last ends it. "At once" is made certain here by pressing
each Z while the other register is stopped; a second run presses both in the same instant.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.harness.wait import wait_for
from meshpos.localapi import ApiError
from meshpos.model.sample import MANAGER

from .kit import NodeProcess, make_device, make_venue


@pytest.fixture
def registers(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    authority = make_venue(tmp_path)
    prefix = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}"
    r1, r2 = (
        NodeProcess(
            make_device(authority, tmp_path, name, host=f"{prefix}.{i}", heartbeat_interval=0.5),
            tmp_path / f"{name}.log",
        )
        for i, name in ((11, "R1"), (12, "R2"))
    )
    yield r1, r2
    r1.kill()
    r2.kill()


def holds_shift(node: NodeProcess, shift_id: str, closed: bool) -> bool:
    try:
        report = node.call("GET", f"/api/shifts/{shift_id}/report")
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise
    return (report["shift"]["close"] is not None) == closed


def days(node: NodeProcess) -> dict[str, Any]:
    answer: dict[str, Any] = node.call("GET", "/api/days")
    return answer


def open_shifts_on_both(r1: NodeProcess, r2: NodeProcess) -> list[str]:
    shifts = [
        r.call("POST", "/api/shifts", {"user": MANAGER, "opening_cash": 0})["id"] for r in (r1, r2)
    ]
    wait_for(
        lambda: all(holds_shift(r, s, closed=False) for r in (r1, r2) for s in shifts),
        30,
        "both registers hold both open shifts",
        on=[r1.events, r2.events],
    )
    return shifts


def z(node: NodeProcess) -> dict[str, Any]:
    answer: dict[str, Any] = node.call(
        "POST", "/api/shifts/current/z", {"user": MANAGER, "counted_cash": 0}
    )
    return answer


def the_day_ends_everywhere(r1: NodeProcess, r2: NodeProcess, today: str) -> None:
    wait_for(
        lambda: all(days(r)["ended"] == [today] and days(r)["today"] != today for r in (r1, r2)),
        30,
        f"business day {today} ended on R1 and R2",
        on=[r1.events, r2.events],
    )


def test_two_zs_that_each_saw_the_other_shift_open_end_the_day(
    registers: tuple[NodeProcess, NodeProcess],
) -> None:
    r1, r2 = registers
    r1.start()
    r2.start()
    today = days(r1)["today"]
    shifts = open_shifts_on_both(r1, r2)
    assert r2.stop() == 0
    first = z(r1)  # R2 is away: its shift is open as far as R1 knows
    assert first["day"] is None
    assert "on R2 is still open" in first["day_open"]
    assert r1.stop() == 0
    r2.start()
    last = z(r2)  # R1's Z has not reached R2: R1's shift is open as far as R2 knows
    assert last["day"] is None
    assert "on R1 is still open" in last["day_open"]
    assert days(r2)["ended"] == []
    r1.start()  # the two closes meet: R2's Z was the last, and R2 ends the day
    wait_for(
        lambda: all(holds_shift(r, s, closed=True) for r in (r1, r2) for s in shifts),
        30,
        "both registers hold both closes",
        on=[r1.events, r2.events],
    )
    the_day_ends_everywhere(r1, r2, today)
    assert "ended by this register's Z, the last" in r2.log.read_text()
    assert "ended by this register's Z" not in r1.log.read_text()


def test_two_zs_pressed_in_the_same_instant_end_the_day(
    registers: tuple[NodeProcess, NodeProcess],
) -> None:
    r1, r2 = registers
    r1.start()
    r2.start()
    today = days(r1)["today"]
    open_shifts_on_both(r1, r2)
    answers: dict[str, dict[str, Any]] = {}
    go = threading.Barrier(2)

    def press(node: NodeProcess) -> None:
        go.wait(10)
        answers[node.config.stem] = z(node)

    pressers = [threading.Thread(target=press, args=(r,)) for r in (r1, r2)]
    for t in pressers:
        t.start()
    for t in pressers:
        t.join(30)
    assert set(answers) == {"R1", "R2"}
    the_day_ends_everywhere(r1, r2, today)
    print(
        f"\nZ answers: {[(name, a['day'], a['day_open']) for name, a in sorted(answers.items())]}"
    )
