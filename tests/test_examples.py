"""Every example runs as it is, as its own process, and does what its output says.

Each run gets its own TMPDIR, so a test can also check that the example removed its throwaway venue; each
runs in its own session, so a hung example is killed together with the nodes it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from meshpos.harness.venue import catalog_update, make_device, make_venue
from meshpos.localapi import LocalApi
from meshpos.model.sample import CASHIER, MANAGER

from .mesh.kit import NodeProcess

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(
    name: str, *args: str, tmp: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``examples/<name>`` with ``tmp`` as its TMPDIR; fail with its output if it fails."""
    tmp.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / name), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the example and the nodes it started
        out, err = proc.communicate()
        pytest.fail(f"{name} did not finish in {timeout} s\n{out}\n{err}")
    print(out)
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}\n{out}\n{err}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def line(pattern: str, out: str) -> re.Match[str]:
    """The output line matching ``pattern`` (anchored at both ends)."""
    match = re.search(f"^{pattern}$", out, re.M)
    assert match is not None, f"no line matching {pattern!r} in:\n{out}"
    return match


def test_register_day_continues_receipt_numbers_across_runs(tmp_path: Path) -> None:
    db = tmp_path / "register.db"
    outputs = [
        run_example("register_day.py", str(db), tmp=tmp_path / "tmp").stdout for _ in range(2)
    ]
    assert "receipt R1-000001" in outputs[0]
    assert "receipt R1-000002" in outputs[1]
    assert "shift closed" in outputs[1]


def test_register_app_sells_pays_cash_and_closes_the_shift(tmp_path: Path) -> None:
    out = run_example("register_app.py", tmp=tmp_path / "tmp").stdout
    assert "2 x Latte (Large, Oat milk)" in out
    assert "sent to the kitchen: ticket with 2 item(s)" in out
    total = line(r"receipt R1-000001: total (\d+\.\d\d)", out)
    cash = line(r"cash tendered (\d+\.\d\d), change (\d+\.\d\d)", out)
    assert Decimal(cash[1]) - Decimal(total[1]) == Decimal(cash[2])  # tendered - total = change
    line(r"shift closed: .* difference 0\.00", out)
    line(
        r"status: gray — 1 receipt, 1 payment, .* of this register are not at the console yet", out
    )
    assert list((tmp_path / "tmp").iterdir()) == []  # the throwaway venue is gone


def test_register_app_runs_on_an_enrolled_node_and_keeps_its_receipt_numbers(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    asyncio.run(make_device(authority, tmp_path, "R7", catalog=catalog_update()))
    config = str(tmp_path / "R7.toml")
    outputs = [
        run_example("register_app.py", "--config", config, tmp=tmp_path / "tmp").stdout
        for _ in range(2)
    ]
    assert "receipt R7-000001:" in outputs[0]
    assert "receipt R7-000002:" in outputs[1]


@pytest.mark.slow
def test_http_client_sells_through_the_json_api_of_a_node_it_starts(tmp_path: Path) -> None:
    out = run_example("http_client.py", tmp=tmp_path / "tmp").stdout
    started = line(
        r"started `meshpos node` \(pid (\d+)\) for register R1 at http://127\.[\d.:]+", out
    )
    assert "catalog: 7 products in EUR, 7 on sale" in out
    assert "2 x Latte (Small, Oat milk)" in out
    error = line(r"add an unknown product -> HTTP 422 (\{.*\})", out)
    assert json.loads(error[1])["error"]["code"] == "unknown_product"
    assert "a wrong token -> HTTP 401 wrong_token" in out
    total = line(r"  total (\d+\.\d\d) EUR", out)
    cash = line(r"paid cash: tendered (\d+\.\d\d) EUR, change (\d+\.\d\d) EUR", out)
    assert Decimal(cash[1]) - Decimal(total[1]) == Decimal(cash[2])
    receipt = line(r"receipt R1-000001: 2 lines, total (\d+\.\d\d) EUR .*", out)
    assert receipt[1] == total[1]
    assert f"shift closed: counted {Decimal('100.00') + Decimal(total[1])} EUR" in out
    line(r"status: gray — .*", out)
    assert list((tmp_path / "tmp").iterdir()) == []
    with pytest.raises(ProcessLookupError):
        os.kill(int(started[1]), 0)  # the node it started is stopped (and was reaped)


@pytest.fixture
def running_node(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A register running as ``meshpos node`` on a loopback address of its own: (API URL, token)."""
    authority = make_venue(tmp_path)
    host = f"127.{random.randrange(200, 250)}.{random.randrange(1, 250)}.21"
    config = asyncio.run(
        make_device(authority, tmp_path, "R5", host=host, catalog=catalog_update())
    )
    node = NodeProcess(tmp_path / "R5.toml", tmp_path / "node.log").start()  # its ready line
    try:
        yield node.api, (config.data_dir / "api.token").read_text().strip()
    finally:
        node.stop()


@pytest.mark.slow
def test_http_client_uses_an_existing_node_and_leaves_its_open_shift_open(
    tmp_path: Path, running_node: tuple[str, str]
) -> None:
    url, token = running_node
    api = LocalApi(url, token)
    shift = api.call("POST", "/api/shifts", {"user": MANAGER, "opening_cash": 5_000})
    assert isinstance(shift, dict)
    out = run_example("http_client.py", "--api", url, "--token", token, tmp=tmp_path / "tmp").stdout
    assert "started `meshpos node`" not in out
    assert f"using the open shift {shift['id']}" in out
    assert "receipt R5-000001:" in out
    assert "shift closed" not in out
    current = api.call("GET", "/api/shifts/current")
    assert isinstance(current, dict)
    assert current["shift"]["id"] == shift["id"]
    assert current["shift"]["close"] is None
    receipts = api.call("GET", "/api/receipts")
    assert isinstance(receipts, list)
    assert [r["user"] for r in receipts] == [CASHIER]


@pytest.mark.slow
def test_console_edit_reaches_both_registers_through_the_relay(tmp_path: Path) -> None:
    out = run_example("console_edit.py", tmp=tmp_path / "tmp").stdout
    line(r"R1: meshpos node on 127\.\d+\.\d+\.11:\d+, with internet", out)
    line(r"R2: meshpos node on 127\.\d+\.\d+\.12:\d+, without internet .*", out)
    assert "  R1: green — All data is synced (relay R1)" in out
    assert "  R2: green — All data is synced (relay R1)" in out
    assert "relays connected: R1\n" in out
    assert "console: price of latte 3.90 -> 4.00" in out
    assert "console: croissant stopped by console" in out
    for register in ("R1", "R2"):
        line(rf"{register}: has the new price and the stop after \d+\.\d\d s", out)
    line(r"every register has both edits \d+\.\d\d s after they were posted", out)
    assert list((tmp_path / "tmp").iterdir()) == []
