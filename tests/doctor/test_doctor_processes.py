"""``meshpos doctor`` against a running venue (a console, two registers finding each other by mDNS on
loopback) and against each fault issue 20 lists: each names its problem in one line.

One venue serves every case (processes are costly on a shared machine); each case breaks one thing on
a copy of a device's files or next to it, and puts it back.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import load_config, write_config_file
from meshpos.doctor.report import EXIT_OK, EXIT_PROBLEM, OK, PROBLEM, WARNING
from meshpos.harness.venue import make_venue
from meshpos.harness.wait import wait_for
from meshpos.ops.clock import CLOCK_PROBLEM_S
from meshpos.trust import VenueAuthority

from ..mesh.kit import ConsoleProcess, NodeProcess, make_device
from ..store.test_full_disk import small_disk  # noqa: F401 - the tmpfs fixture
from ..trust.helpers import expired_pem

FAKETIME = shutil.which("faketime")


@dataclass
class Venue:
    root: Path
    authority: VenueAuthority
    console: ConsoleProcess
    r1: NodeProcess
    r2: NodeProcess
    prefix: str

    def config(self, name: str) -> Path:
        return self.root / f"{name}.toml"


def doctor(config: Path, *prefix: str, seconds: float = 1.5) -> tuple[int, dict[str, Any]]:
    """``meshpos doctor --config ... --json`` as an operator runs it: its exit code and report."""
    argv = [*prefix, sys.executable, "-m", "meshpos", "doctor", "--config", str(config)]
    done = subprocess.run(
        [*argv, "--json", "--browse-seconds", str(seconds)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    for check in report["checks"]:
        print(f"{check['level']:<8} {check['check']}: {check['message']}")
    return done.returncode, report


def levels(report: dict[str, Any]) -> dict[str, str]:
    return {c["check"]: c["level"] for c in report["checks"]}


def finding(report: dict[str, Any], check: str) -> dict[str, Any]:
    found = [c for c in report["checks"] if c["check"] == check]
    assert len(found) == 1, report
    return found[0]


def problem(code: int, report: dict[str, Any], check: str) -> str:
    """The message of ``check``, which must be the problem that made the doctor exit with 1."""
    assert code == EXIT_PROBLEM
    found = finding(report, check)
    assert found["level"] == PROBLEM
    return str(found["message"])


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    root = tmp_path_factory.mktemp("doctor")
    authority = make_venue(root)
    prefix = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}"
    console = ConsoleProcess(root, [authority.directory]).start()
    nodes: list[NodeProcess] = []
    try:
        for name, octet in (("R1", 11), ("R2", 12)):
            config = make_device(
                authority,
                root,
                name,
                host=f"{prefix}.{octet}",
                console_url=str(console.ready["console"]),
                console_token=authority.console_token,
                heartbeat_interval=0.5,
            )
            nodes.append(NodeProcess(config, root / f"{name}.log").start())
        r1, r2 = nodes
        wait_for(
            lambda: r1.status()["colour"] == "green" and "R2" in r1.status()["peers"],
            60,
            "R1 green and linked to R2",
            on=[r1.events],
        )
        yield Venue(root, authority, console, r1, r2, prefix)
    finally:
        for node in nodes:
            node.kill()
        console.stop()


def copy_config(venue: Venue, name: str, **changes: Any) -> Path:
    """R1's node.toml with ``changes``, under another file name (R1's files stay as they are)."""
    values = tomllib.loads(venue.config("R1").read_text())["node"] | changes
    path = venue.root / f"{name}.toml"
    write_config_file(path, values)
    return path


def spare_device(venue: Venue, name: str, octet: int) -> Path:
    """A register of the venue that is enrolled but not running (its own data dir)."""
    return make_device(venue.authority, venue.root, name, host=f"{venue.prefix}.{octet}")


@pytest.mark.slow
def test_a_healthy_running_register_is_ok_on_every_line(venue: Venue) -> None:
    # R2 must be heard, on a busy machine too
    code, report = doctor(venue.config("R1"), seconds=3.0)
    assert code == EXIT_OK
    found = levels(report)
    assert not [c for c in report["checks"] if c["level"] != OK], report
    for check in ("config", "identity", "certificate", "lock", "database", "disk", "ports"):
        assert found[check] == OK
    assert found["peer R2"] == OK
    assert "R2" in finding(report, "mdns")["message"]
    assert "accepts" in finding(report, "console")["message"]
    assert finding(report, "status")["message"].startswith("GREEN")


@pytest.mark.slow
def test_a_wrong_console_token_is_named(venue: Venue) -> None:
    config = copy_config(venue, "wrong-token", console_token="not-the-venue-token")
    code, report = doctor(config)
    console = problem(code, report, "console")
    assert "refused the token: wrong venue token" in console


@pytest.mark.slow
def test_the_ca_of_another_venue_is_named(venue: Venue) -> None:
    config = spare_device(venue, "R3", 13)
    other = make_venue(venue.root / "other")
    shutil.copy(other.directory / "ca.pem", load_config(config).identity_path / "ca.pem")
    code, report = doctor(config)
    identity = problem(code, report, "identity")
    assert "not issued by the venue CA" in identity


@pytest.mark.slow
def test_an_expired_certificate_is_named(venue: Venue) -> None:
    config = spare_device(venue, "R4", 14)
    _expire(venue.authority, load_config(config).identity_path)
    code, report = doctor(config)
    certificate = problem(code, report, "certificate")
    assert "expired on" in certificate


def _expire(authority: VenueAuthority, identity_dir: Path) -> None:
    """Replace the device certificate with one of the same key whose validity ended yesterday."""
    device = identity_dir / "device.pem"
    device.write_text(expired_pem(authority, device.read_text()))


@pytest.mark.slow
@pytest.mark.skipif(
    FAKETIME is None and os.environ.get("CI") != "true", reason="needs faketime (Debian package)"
)
def test_a_clock_ten_minutes_off_is_named(venue: Venue) -> None:
    assert FAKETIME is not None, "faketime is missing (./run test installs it as root)"
    minutes = 10
    assert minutes * 60 >= CLOCK_PROBLEM_S
    code, report = doctor(venue.config("R1"), FAKETIME, "-f", f"+{minutes}m")
    clock = problem(code, report, "clock")
    assert f"{minutes} min ahead of" in clock


@pytest.mark.slow
def test_a_data_dir_locked_by_another_process_is_named(venue: Venue) -> None:
    config = spare_device(venue, "R5", 15)
    lock = load_config(config).data_dir / "node.db.lock"
    holder = subprocess.Popen(["flock", "--no-fork", str(lock), "sleep", "60"])
    try:
        wait_for(lambda: _held(lock), 10, "flock holding the lock")
        code, report = doctor(config)
    finally:
        holder.kill()
        holder.wait()
    found = problem(code, report, "lock")
    assert "locked by process" in found


def _held(lock: Path) -> bool:
    from meshpos.doctor.probes import lock_holder

    return lock.exists() and lock_holder(lock) is not None


@pytest.mark.slow
def test_a_full_disk_is_named(venue: Venue, small_disk: Path) -> None:  # noqa: F811
    config = make_device(venue.authority, small_disk, "R6", host=f"{venue.prefix}.16", catalog=None)
    with (small_disk / "filler").open("wb") as filler:
        try:
            while True:  # bounded by the tmpfs's size
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass
    code, report = doctor(config)
    disk = problem(code, report, "disk")
    assert disk.startswith("disk full")
    assert finding(report, "data dir")["level"] == PROBLEM


@pytest.mark.slow
def test_no_peers_is_named(venue: Venue) -> None:
    alone = make_venue(venue.root / "alone")  # a venue whose only device is this one
    config = make_device(alone, venue.root / "alone", "R1", host=f"{venue.prefix}.18")
    code, report = doctor(config)
    assert code == EXIT_OK  # a warning: a venue may have one device
    mdns = finding(report, "mdns")
    assert mdns["level"] == WARNING
    assert mdns["message"].startswith("no peers")


@pytest.mark.slow
def test_the_console_down_is_named(venue: Venue) -> None:
    config = copy_config(venue, "console-down", console_url="ws://127.0.0.1:9")
    code, report = doctor(config)
    console = problem(code, report, "console")
    assert console.startswith("console down")


def console_doctor(venue: Venue, *options: str) -> tuple[int, dict[str, Any]]:
    """``meshpos doctor --console`` with the options the running console was started with, then
    ``options`` (argparse keeps the last of a repeated option)."""
    ready = venue.console.ready
    argv = [sys.executable, "-m", "meshpos", "doctor", "--console", "--json"]
    argv += ["--db", f"sqlite:///{venue.root / 'console.db'}", "--host", "127.0.0.1"]
    argv += ["--port", str(venue.console.port), "--api-port", str(ready["api"]).rsplit(":", 1)[1]]
    argv += ["--token-file", str(venue.root / "console-admin.token"), *options]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    for check in report["checks"]:
        print(f"{check['level']:<8} {check['check']}: {check['message']}")
    return done.returncode, report


@pytest.mark.slow
def test_a_healthy_running_console_is_ok_and_names_its_relay(venue: Venue) -> None:
    code, report = console_doctor(venue)
    assert code == EXIT_OK
    assert not [c for c in report["checks"] if c["level"] != OK], report
    assert "R1" in finding(report, f"venue {venue.authority.venue_id}")["message"]
    assert finding(report, "lock")["message"].endswith(
        f"held by the running console (pid {venue.console.proc.pid})"  # type: ignore[union-attr]
    )


@pytest.mark.slow
def test_a_wrong_console_admin_token_is_named(venue: Venue) -> None:
    wrong = venue.root / "wrong-admin.token"
    wrong.write_text("0123456789abcdef0123456789abcdef\n")
    code, report = console_doctor(venue, "--token-file", str(wrong))
    token = problem(code, report, "admin token")
    assert "refuses the admin token" in token


@pytest.mark.slow
def test_a_stopped_console_whose_database_is_locked_is_named(venue: Venue) -> None:
    db = venue.root / "stopped-console.db"
    lock = venue.root / "stopped-console.db.lock"
    holder = subprocess.Popen(["flock", "--no-fork", str(lock), "sleep", "60"])
    try:
        wait_for(lambda: _held(lock), 10, "flock holding the lock")
        code, report = console_doctor(
            venue, "--db", f"sqlite:///{db}", "--port", "0", "--api-port", "0"
        )
    finally:
        holder.kill()
        holder.wait()
    found = problem(code, report, "lock")
    assert f"held by process {holder.pid}" in found
