"""The doctor's report: one line per finding whatever a message holds, the exit code, the JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from meshpos.cli import main
from meshpos.doctor.probes import lock_holder, process_name
from meshpos.doctor.report import EXIT_OK, EXIT_PROBLEM, OK, PROBLEM, WARNING, Report
from meshpos.harness.wait import wait_for


def test_each_finding_is_one_line_and_the_exit_code_says_whether_anything_is_a_problem() -> None:
    report = Report("node R1")
    report.ok("config", "fine")
    report.warning("mdns", "no peers", "start the others")
    assert report.exit_code == EXIT_OK
    report.problem("console", "refused:\nwrong venue token\r\n(from a peer)", "set console_token")
    assert report.exit_code == EXIT_PROBLEM
    lines = report.text().splitlines()
    assert len(lines) == 1 + 3 + 1  # subject, findings, verdict
    assert lines[3] == (
        "PROBLEM  console: refused: wrong venue token (from a peer) -> set console_token"
    )
    assert lines[-1] == "1 problem(s), 1 warning(s)"
    data = json.loads(report.to_json())
    assert (data["ok"], data["problems"], data["warnings"]) == (False, 1, 1)
    assert [c["level"] for c in data["checks"]] == [OK, WARNING, PROBLEM]


def test_a_lock_holder_is_found_even_when_it_wrote_no_pid(tmp_path: Path) -> None:
    lock = tmp_path / "node.db.lock"
    lock.touch()
    assert lock_holder(lock) is None
    holder = subprocess.Popen(["flock", "--no-fork", str(lock), "sleep", "60"])
    try:
        wait_for(lambda: lock_holder(lock) == holder.pid, 10, "flock holding the lock")
        assert "sleep 60" in process_name(holder.pid)
    finally:
        holder.kill()
        holder.wait()
    assert lock_holder(lock) is None


def test_an_invalid_config_is_a_problem_named_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "node.toml"
    config.write_text('[node]\nnode_id = "R1"\nport = 22.7\n')
    assert main(["doctor", "--config", str(config)]) == EXIT_PROBLEM
    out = capsys.readouterr().out.splitlines()
    assert (
        out[1]
        == f"PROBLEM  config: {config}: port = 22.7 is not a whole number -> correct the setting it names"
    )
    assert main(["doctor"]) == 2  # neither --config nor --console: a usage error, not a report
    assert "give either --config node.toml or --console" in capsys.readouterr().err
