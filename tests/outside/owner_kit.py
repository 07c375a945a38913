"""What the two "database of another" tests share: a register that sold, its database moved into
another device's data dir, and that device's start, which must be refused (store/owner.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from meshpos.config import load_config
from meshpos.model.sample import CASHIER

from ..mesh.kit import NodeProcess


def sold_and_moved(seller: Path, taker: Path, log: Path) -> tuple[Path, bytes]:
    """Sell one receipt on the device of config ``seller``, stop it, and put its database (with its
    WAL) in place of the one of config ``taker``: the taker's data dir and the moved file's bytes."""
    from_dir, to_dir = load_config(seller, env={}).data_dir, load_config(taker, env={}).data_dir
    register = NodeProcess(seller, log, args=["--no-discovery"]).start()
    try:
        register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        register.sell(CASHIER, ["espresso"])
    finally:
        assert register.stop() == 0
    for old in to_dir.glob("node.db*"):
        old.unlink()
    for name in ("node.db", "node.db-wal"):
        if (from_dir / name).exists():
            shutil.copyfile(from_dir / name, to_dir / name)
    return to_dir, (to_dir / "node.db").read_bytes()


def refused_start(config: Path, what: str) -> str:
    """Start ``meshpos node`` on ``config``; its standard error once it ends with exit code 2 (a
    refused start ends at once), with no "unexpected" in it. ``what``: the start it must not be."""
    node = subprocess.Popen(
        [sys.executable, "-m", "meshpos", "node", "--config", str(config), "--no-discovery"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = node.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        node.kill()
        out, err = node.communicate()
        raise AssertionError(f"{what}: {out[-500:]}") from None
    assert node.returncode == 2, out[-2000:] + err[-2000:]
    assert "unexpected" not in err, err
    return err
