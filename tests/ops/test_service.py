"""``meshpos service install`` (issue 20): the systemd units it writes pass ``systemd-analyze verify`` (this
machine has no running systemd to start them), run the command a person would with absolute paths, and
refuse what a unit must not hold; the node unit's own command line, stopped as systemd stops it (SIGTERM to
meshpos alone, ``KillMode=mixed``) and started again, loses nothing."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from meshpos.cli import main
from meshpos.harness.procs import Proc
from meshpos.model.sample import CASHIER
from meshpos.ops.service import ServiceError, ServiceSpec
from meshpos.ops.service import install as install_unit

from ..mesh.kit import make_device, make_venue


def settings(unit: str) -> dict[str, str]:
    """The unit's ``key=value`` lines (the last of a key wins, as in systemd)."""
    return dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#")
    )


def verify(path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is missing (Debian package systemd; ./run test installs it)")
    done = subprocess.run([tool, "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout + done.stderr) == (0, ""), "systemd-analyze verify"


def install(*words: str) -> int:
    return main(["service", "install", *words])


def test_the_node_unit_passes_systemd_analyze_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    authority = make_venue(tmp_path)
    config = make_device(authority, tmp_path, "R1")
    units = tmp_path / "units"
    assert (
        install("node", "--unit-dir", str(units), "--", "--config", str(config), "--no-discovery")
        == 0
    )
    unit = units / "meshpos-node-R1.service"
    verify(unit)
    said = settings(unit.read_text())
    command = shlex.split(said["ExecStart"])
    assert Path(command[0]).is_absolute()
    assert command[1:] == [
        "--log-format",
        "text",
        "node",
        "--config",
        str(config.resolve()),
        "--no-discovery",
    ]
    data = (tmp_path / "R1").resolve()
    assert said["ReadWritePaths"] == str(data)  # its identity lives inside it
    assert (said["User"], said["Restart"], said["KillMode"]) == ("meshpos", "on-failure", "mixed")
    assert said["StartLimitIntervalSec"] == "0"  # keeps restarting
    assert said["ProtectSystem"] == "strict"
    out = capsys.readouterr().out
    assert f"chown -R meshpos: {data}" in out
    assert "systemctl enable --now meshpos-node-R1.service" in out


def test_the_console_unit_passes_systemd_analyze_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    authority = make_venue(tmp_path)
    monkeypatch.chdir(tmp_path)
    units = tmp_path / "units"
    assert (
        main(
            [
                "--log-format",
                "json",
                "service",
                "install",
                "console",
                "--unit-dir",
                str(units),
                "--user",
                "pos",
                "--",
                "--venue",
                authority.directory.name,
                "--db",
                "sqlite:///data/console.db",
                "--host",
                "127.0.0.1",
            ]
        )
        == 0
    )
    unit = units / "meshpos-console.service"
    verify(unit)
    said = settings(unit.read_text())
    command = shlex.split(said["ExecStart"])
    venue, db = (
        str(authority.directory.resolve()),
        f"sqlite:///{tmp_path.resolve()}/data/console.db",
    )
    assert command[1:] == [
        "--log-format",
        "json",
        "console",
        "--venue",
        venue,
        "--db",
        db,
        "--host",
        "127.0.0.1",
    ]
    assert set(said["ReadWritePaths"].split()) == {str(tmp_path.resolve())}  # the rest is inside
    assert said["User"] == "pos"
    assert said["WorkingDirectory"] == str(tmp_path.resolve())


@pytest.mark.parametrize(
    ("what", "words", "problem"),
    [
        ("node", ["--init-database"], "--init-database is for one start only"),
        ("node", ["--new-receipt-series"], "--new-receipt-series is for one start only"),
        ("console", ["--db", "postgresql://pos:secret@db/pos"], "--db holds a password"),
    ],
)
def test_what_a_unit_must_not_hold_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str, words: list[str], problem: str
) -> None:
    authority = make_venue(tmp_path)
    config = make_device(authority, tmp_path, "R1")
    units = tmp_path / "units"
    first = ["--config", str(config)] if what == "node" else ["--venue", str(authority.directory)]
    assert install(what, "--unit-dir", str(units), "--", *first, *words) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"meshpos: error: {problem}")
    assert err.count("\n") == 1
    assert not units.exists() or not list(units.iterdir())


def test_a_unit_that_systemd_refuses_is_not_left_behind(tmp_path: Path) -> None:
    """The check can fail: a program that does not exist is refused, and the file is removed."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is missing (Debian package systemd; ./run test installs it)")
    spec = ServiceSpec("node", "meshpos-node-R9", ("node",), tmp_path, (tmp_path,))
    units = tmp_path / "units"
    with pytest.raises(
        ServiceError, match=r"systemd-analyze verify refused meshpos-node-R9\.service"
    ):
        install_unit(spec, unit_dir=units, executable=tmp_path / "no-such-meshpos", user="meshpos")
    assert list(units.iterdir()) == []


async def test_the_node_unit_command_stopped_and_started_as_systemd_does_loses_nothing(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    config = make_device(authority, tmp_path, "R1")
    units = tmp_path / "units"
    assert (
        install("node", "--unit-dir", str(units), "--", "--config", str(config), "--no-discovery")
        == 0
    )
    said = settings((units / "meshpos-node-R1.service").read_text())
    command = shlex.split(said["ExecStart"])
    stop_s = float(said["TimeoutStopSec"].removesuffix("s"))
    node = Proc(
        "R1", [], tmp_path / "R1.log", tmp_path / "R1" / "api.token", command=lambda _: command
    )
    await node.start()
    try:
        await node.client.acall("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 5_000})
        sold = []
        for _ in range(3):
            order = await node.client.acall("POST", "/api/orders", {"user": CASHIER})
            await node.client.acall(
                "POST",
                f"/api/orders/{order['id']}/lines",
                {"user": CASHIER, "product_id": "burger"},
            )
            paid = await node.client.acall(
                "POST", f"/api/orders/{order['id']}/payments", {"user": CASHIER, "method": "card"}
            )
            sold.append(paid["receipt"]["id"])
        await node.stop(stop_s)  # SIGTERM to meshpos alone, as KillMode=mixed does
        assert node.process is not None
        assert node.process.returncode == 0  # it stopped by itself, in time
        await node.start()
        held = {r["id"] for r in await node.client.acall("GET", "/api/receipts")}
        assert set(sold) <= held
    finally:
        await node.stop(stop_s)
    unclean = [
        line
        for line in node.log.read_text().splitlines()
        if " WARNING " in line or " ERROR " in line
    ]
    assert unclean == []
