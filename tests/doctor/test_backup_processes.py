"""``meshpos backup`` of a register while it sells, and ``meshpos restore`` onto a replacement device
after the register died: the replacement loses no receipt and repeats no number (issue 20, README
"Replacing a dead register").

The sales made after the backup come back from the venue's other register: the console keeps them in
its reports but never sends a ledger down (sync/_rules.py), so a venue whose only register died has
them at the console, and the replacement continues after their numbers all the same (the marks)."""

from __future__ import annotations

import random
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from meshpos.backup import NUMBERING_META
from meshpos.config import load_config, write_config_file
from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER

from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue


def meshpos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshpos", *args], capture_output=True, text=True, timeout=120
    )


def number_of(receipt: dict[str, object]) -> tuple[str, int]:
    series, _, seq = str(receipt["number"]).rpartition("-")
    return series, int(seq)


@pytest.mark.slow
def test_a_backup_taken_while_selling_restores_to_a_replacement_that_loses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    console = ConsoleProcess(tmp_path, [authority.directory]).start()
    venue = f"/api/venues/{authority.venue_id}"
    prefix = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}"
    nodes: list[NodeProcess] = []
    try:
        # R2 (no internet of its own) and R1, the relay, linked without mDNS
        r2_config = make_device(authority, tmp_path, "R2", host=f"{prefix}.22")
        r2 = NodeProcess(r2_config, tmp_path / "R2.log", args=["--no-discovery"]).start()
        nodes.append(r2)
        to_r2 = ["--no-discovery", "--peer", f"R2@{prefix}.22:{r2.port}"]
        r1_config = make_device(
            authority,
            tmp_path,
            "R1",
            host=f"{prefix}.21",
            console_url=str(console.ready["console"]),
            console_token=authority.console_token,
            heartbeat_interval=0.5,
        )
        r1 = NodeProcess(r1_config, tmp_path / "R1.log", args=to_r2).start()
        nodes.append(r1)
        r1.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        sold = [r1.sell(CASHIER, ["espresso"]) for _ in range(3)]

        # the backup runs while the register keeps selling: each sale is acknowledged, so committed
        backup_file = tmp_path / "R1.backup"
        taking = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "meshpos",
                "backup",
                "--config",
                str(r1.config),
                "--out",
                str(backup_file),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(20):  # bounded: the backup usually ends within a few of these
            sold.append(r1.sell(CASHIER, ["espresso"]))
            if taking.poll() is not None:
                break
        out, err = taking.communicate(timeout=60)
        assert taking.returncode == 0, err
        print(out)
        sold += [r1.sell(CASHIER, ["croissant"]) for _ in range(3)]  # not in the backup
        ids = {r["id"] for r in sold}

        def at_console() -> set[str]:
            return {r["id"] for r in console.call("GET", f"{venue}/receipts")}

        wait_for(lambda: ids <= at_console(), 60, "every sale of R1 at the console")
        wait_for(lambda: ids <= r2.receipt_ids(), 60, "every sale of R1 on R2", on=[r2.events])
        r1.kill()  # the register dies

        # a replacement device: the dead register's node.toml on another machine (data dir, address)
        values = tomllib.loads(r1.config.read_text())["node"]
        host = f"{prefix}.23"
        new_dir = tmp_path / "replacement"
        config = tmp_path / "replacement.toml"
        write_config_file(
            config, values | {"data_dir": str(new_dir), "listen_host": host, "api_host": host}
        )
        restored = meshpos("restore", "--config", str(config), "--from", str(backup_file))
        assert restored.returncode == 0, restored.stderr
        print(restored.stdout)
        assert _meta(load_config(config).db_path, NUMBERING_META) is None  # learns them again

        again = meshpos("restore", "--config", str(config), "--from", str(backup_file))
        assert again.returncode == 2
        assert "already holds a database" in again.stderr  # one line, nothing overwritten

        replacement = NodeProcess(config, tmp_path / "replacement.log", args=to_r2)
        nodes.append(replacement.start())
        wait_for(
            lambda: (
                replacement.status()["receipt_numbers_known"] and ids <= replacement.receipt_ids()
            ),
            60,
            "the replacement in sync with the console, holding every sale of R1",
            on=[replacement.events],
        )
        # the dead register's shift goes on: it came with the backup
        after = replacement.sell(CASHIER, ["espresso"])
        series, seq = number_of(after)
        assert series == "R1"
        assert seq > max(number_of(r)[1] for r in sold)  # continues the dead register's numbering
        everything = [*sold, after]
        wait_for(lambda: after["id"] in at_console(), 60, "the replacement's sale at the console")
        numbers = [r["number"] for r in console.call("GET", f"{venue}/receipts")]
        assert sorted(numbers) == sorted(r["number"] for r in everything)  # none lost, none twice
        assert console.call("GET", f"{venue}/alarms") == []
    finally:
        for node in nodes:
            node.kill()
        console.stop()


def _meta(db: Path, key: str) -> str | None:
    import sqlite3

    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])
