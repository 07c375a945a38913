"""``meshpos bench history`` with tiny sizes: every figure is printed with a sane type, and the history
fixture really holds its days (read back from the SQLite file through the model). No speed is asserted."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc

from meshpos.bench.history import TARGETS, add_history_arguments, run_history_bench
from meshpos.bench.history_fixture import DEVICE, closed_day_dates, sample_day_settings
from meshpos.bench.history_rekey import verify_day
from meshpos.errors import MeshposError
from meshpos.model import Ledger
from meshpos.model.day_end import day_keys, records_key
from meshpos.model.records import SHIFTS
from meshpos.store import SqliteStore

DAYS, PER_DAY, OPEN_DAY, KB_DAY, SALES = 3, 20, 20, 60, 3
RUN_FIGURES = {
    "start_s": float,
    "start_cpu_ms": int,
    "start_after_crash_s": float,
    "start_after_crash_cpu_ms": int,
    "rss_start_mb": float,
    "rss_mb": float,
    "rss_helpers_mb": float,
    "idle_cpu_ms_per_s": float,
    "idle_cpu_page_open_ms_per_s": float,
    "sales": int,
    "sale_p50_ms": float,
    "sale_p99_ms": float,
    "sale_max_ms": float,
    "page_loads": int,
    "old_refund_ms": float,
}


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_history_arguments(parser)
    return parser.parse_args(list(argv))


def _number(value: object, kind: type) -> bool:
    return isinstance(value, kind) or (kind is float and isinstance(value, int))


async def _days(db: Path) -> tuple[dict[str, bytes], set[str], dict[str, str | None]]:
    """Every ledger day of the file (closed ones too), the closed days, and where the store's index of
    closed records finds each receipt id and number of the days."""
    async with await SqliteStore.open(db) as store:
        docs = await store.documents(include_closed=True)
        names = [d.name for d in docs if d.name.startswith("ledger/")]
        days = {name.split("/", 1)[1]: await store.load(name) or b"" for name in names}
        closed = {name.split("/", 1)[1] for name in await store.closed_days()}
        keys: dict[str, str | None] = {}
        for date, update in days.items():
            ledger = Ledger(_doc(update), date)
            for key in day_keys(ledger):
                keys[key] = await store.find_closed(key)
        return days, closed, keys


def _doc(update: bytes) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    return doc


def test_a_tiny_run_prints_every_figure_and_its_fixture_holds_the_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _args(
        "--json",
        *("--days", str(DAYS), "--receipts-per-day", str(PER_DAY), "--open-day", str(OPEN_DAY)),
        *("--kb-day", str(KB_DAY), "--sales", str(SALES), "--idle-s", "0.3"),
        *("--dir", str(tmp_path)),
    )
    assert run_history_bench(args) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert "bench history: history: starting the node" in captured.err

    for run in ("history", "no_history"):
        figures = report[run]
        assert set(figures) == set(RUN_FIGURES)
        for key, kind in RUN_FIGURES.items():
            assert _number(figures[key], kind), (run, key, figures[key])
            assert figures[key] >= 0, (run, key)
        assert figures["sales"] == SALES
        assert 0 < figures["sale_p50_ms"] <= figures["sale_p99_ms"] <= figures["sale_max_ms"]
        assert figures["rss_start_mb"] > 10  # a Python process, not a misread of /proc
        assert figures["rss_mb"] > 10
        assert 0 < figures["start_s"] < 120
        assert 0 < figures["start_after_crash_s"] < 120
        assert figures["page_loads"] >= 1  # the page loaded at least once when it opened
        assert figures["old_refund_ms"] > 0

    h, b = report["history"], report["no_history"]
    for key, run_key in (("rss", "rss_mb"), ("start", "start_s"), ("sale_p99", "sale_p99_ms")):
        assert report[f"{key}_ratio_vs_no_history"] == round(h[run_key] / b[run_key], 2)
    for key in ("rss_mb", "start_s", "sale_p99_ms", "old_refund_ms", "idle_cpu_ms_per_s"):
        assert report[key] == h[key]
    assert isinstance(report["open_day_kb_per_receipt"], float | int)
    assert report["kb_day"]["receipts"] == KB_DAY
    assert report["fixture"]["history_receipts"] == DAYS * PER_DAY + OPEN_DAY
    assert report["fixture"]["history_quick_check_ms"] >= 0
    assert report["targets"] == {f"{key}_max": value for key, value in TARGETS.items()}
    assert set(report["targets_met"]) == set(TARGETS)
    assert len(report["machine"]["load_avg_before"]) == 3

    # the history register's file: every closed day, full and numbered in one series, then today
    days, closed, keys = asyncio.run(_days(tmp_path / "history" / DEVICE / "node.db"))
    cutoff_hour = sample_day_settings()[1]
    today = max(days)
    assert sorted(days) == [*closed_day_dates(today, DAYS), today]
    # closed as a node closes them, each receipt id and number indexed to its day; the oldest was
    # loaded again by the run's refund (and with no console it stays open)
    _oldest, *rest = closed_day_dates(today, DAYS)
    assert closed == set(rest)
    (today_shift,) = Ledger(_doc(days[today]), today).record_ids(SHIFTS)
    for date in closed_day_dates(today, DAYS):
        for key in day_keys(Ledger(_doc(days[date]), date)):
            if date == _oldest and key == records_key(today_shift, date):
                assert keys[key] is None  # the refund came after its close: indexed at its next
                continue
            assert keys[key] == f"ledger/{date}", (date, key)
    receipt_ids: set[str] = set()
    for d, date in enumerate(closed_day_dates(today, DAYS)):
        ledger = verify_day(
            days[date],
            date,
            receipts=PER_DAY,
            first_seq=d * PER_DAY + 1,
            device=DEVICE,
            cutoff_hour=cutoff_hour,
        )
        receipts = ledger.receipts()
        assert len(ledger.orders()) == PER_DAY
        assert all(r.lines and r.payment_ids for r in receipts)
        receipt_ids |= {r.id for r in receipts}
    assert len(receipt_ids) == DAYS * PER_DAY  # ids differ across days too
    # the open day as written, plus the run's sales (the refund is a refund, not a receipt)
    open_ledger = verify_day(
        days[today],
        today,
        receipts=OPEN_DAY + SALES,
        first_seq=DAYS * PER_DAY + 1,
        device=DEVICE,
        cutoff_hour=cutoff_hour,
    )
    assert len(open_ledger.open_shifts_of(DEVICE)) == 1
    assert not receipt_ids & {r.id for r in open_ledger.receipts()}


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("--open-day", "20", "--kb-day", "20"), "--kb-day must be larger"),
        (("--days", "1000", "--receipts-per-day", "1000"), "six-digit receipt numbers"),
        (("--open-day", "0"), "--open-day"),
    ],
)
def test_sizes_no_register_can_hold_are_refused_before_anything_is_built(
    tmp_path: Path, argv: tuple[str, ...], says: str
) -> None:
    with pytest.raises(MeshposError, match=says):
        run_history_bench(_args(*argv, "--dir", str(tmp_path / "fixtures")))
    assert not (tmp_path / "fixtures").exists()


def test_a_folder_holding_an_earlier_runs_fixtures_is_refused_before_anything_is_built(
    tmp_path: Path,
) -> None:
    earlier = tmp_path / "fixtures" / "no-history"
    earlier.mkdir(parents=True)
    with pytest.raises(MeshposError, match="is not empty"):
        run_history_bench(_args("--dir", str(tmp_path / "fixtures")))
    assert [p.name for p in (tmp_path / "fixtures").iterdir()] == ["no-history"]
