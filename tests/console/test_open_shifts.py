"""The console's "shift open since <day>" (``console/open_shifts.py``; the twenty-first session, part
shifts): the rule, the oldest open shift per register, and a register listed for it alone. The real
processes and the pages: tests/web/test_console_open_shift_browser.py."""

from __future__ import annotations

from meshpos.console.devices import DeviceView
from meshpos.console.open_shifts import oldest_open, open_since


def test_only_a_shift_opened_before_today_is_open_since_its_day() -> None:
    assert open_since("2026-12-05", "2026-12-07") == "2026-12-05"
    assert open_since("2026-12-07", "2026-12-07") is None
    assert open_since("2026-12-08", "2026-12-07") is None  # (a register's clock ahead)


def test_the_oldest_open_shift_of_each_register() -> None:
    shifts = {"a": ("R1", "2026-12-06"), "b": ("R1", "2026-12-04"), "c": ("R2", "2026-12-07")}
    assert oldest_open(shifts) == {"R1": "2026-12-04", "R2": "2026-12-07"}
    assert oldest_open({}) == {}


def test_a_register_known_only_by_its_open_shift_is_listed_with_it() -> None:
    report = DeviceView().report({}, [], 1_000.0, open_since={"R9": "2026-12-01"})
    assert report["R9"]["shift_open_since"] == "2026-12-01"
    assert report["R9"]["reachable"] is False
