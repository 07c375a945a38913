"""``meshpos bench records`` with a few sales: every figure is printed, positive, with its type (the sales
are real model sales, so each costs update bytes, state bytes and store bytes). No size is asserted."""

from __future__ import annotations

import argparse
import json

import pytest

from meshpos.bench.records import add_records_arguments, run_records_bench
from meshpos.errors import MeshposError

FIGURES = {
    "sales": int,
    "update_bytes_per_sale": int,
    "ledger_update_bytes_per_sale": int,
    "state_bytes_per_sale": int,
    "live_kb_per_receipt": float,
    "loaded_kb_per_receipt": float,
    "store_bytes_per_sale": int,
}


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_records_arguments(parser)
    return parser.parse_args(list(argv))


def test_a_small_run_prints_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_records_bench(_args("--json", "--sales", "30")) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == set(FIGURES)
    for name, kind in FIGURES.items():
        assert isinstance(report[name], kind), name
    assert report["sales"] == 30
    for name in ("update_bytes_per_sale", "ledger_update_bytes_per_sale", "state_bytes_per_sale"):
        assert report[name] > 0, name
    assert report["update_bytes_per_sale"] > report["ledger_update_bytes_per_sale"]
    assert report["store_bytes_per_sale"] > 0


@pytest.mark.parametrize("sales", ["0", "-1", "100001"])
def test_nonsense_sizes_are_refused(sales: str) -> None:
    with pytest.raises(MeshposError, match="--sales"):
        run_records_bench(_args("--sales", sales))
