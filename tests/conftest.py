"""Shared test set-up. With CI=true a skipped test fails: a test that cannot run in CI does not exist."""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

# Every test's bound, past which it fails with every thread's and task's stack (tests/bound.py); the
# seconds are ``timeout`` in pyproject.toml's pytest settings.
from .bound import pytest_handlecrashitem as pytest_handlecrashitem
from .bound import pytest_timeout_cancel_timer as pytest_timeout_cancel_timer
from .bound import pytest_timeout_set_timer as pytest_timeout_set_timer

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# ``./run test`` runs the suite on several pytest-xdist workers (``--dist loadgroup``). Tests of one
# group run one after another on one worker. "netns": tests that build network namespaces (whole venues
# of processes under faults, the heaviest of the suite; two at once would starve each other's timers).
GROUPS = {
    "netns": (
        "tests/net/test_netbed.py",
        "tests/mesh/test_netns_mesh.py",
        "tests/chaos/test_chaos_partition.py",
        "tests/chaos/test_chaos_run.py",
        "tests/chaos/test_reconcile.py",
    ),
}

# The files whose tests took longest in CI (``.ci/run --durations=30`` of two runs on 2026-12-06, each
# 20 s or more), longest first: their tests start first and the run ends on short ones. pytest-xdist
# hands tests out in collection order (a group first: its tests run one after another), so a long test
# collected late starts late and the other workers wait for it at the end (tests/web/test_api_fuzz.py,
# 60 s, was among the last). In a simulation of xdist's scheduling on those runs' durations the run
# ends 10-20 s sooner (of ~1,100). A file not named here starts where it is collected; a name here that
# is no file fails tests/test_harness.py.
LONGEST_FIRST = (
    "tests/test_bench_all.py",
    "tests/relay/test_console_fresh_processes.py",
    "tests/crash/test_crash_kill9.py",
    "tests/web/test_api_fuzz.py",
    "tests/console/test_console_api_fuzz.py",
    "tests/sync/test_sync_stateful.py",
    "tests/bench/test_history_mesh_bench.py",
    "tests/compat/test_mixed_versions.py",
    "tests/bench/test_mesh_bench.py",
    "tests/compat/test_config_previous.py",
    "tests/mesh/test_business_days.py",
    "tests/test_demo.py",
    "tests/relay/test_console_tick_processes.py",
    "tests/mesh/test_topology_mesh.py",
    "tests/mesh/test_security_revoke_push.py",
    "tests/mesh/test_receipt_numbers.py",
    "tests/bench/test_console_bench.py",
    "tests/bench/test_upload_bench.py",
    "tests/relay/test_outage.py",
    "tests/doctor/test_backup_processes.py",
    "tests/web/test_register_reports_console_browser.py",
    "tests/mesh/test_same_venue_id.py",
    "tests/mesh/test_hostile_peer.py",
    "tests/bench/test_history_bench.py",
    "tests/relay/test_console_tls.py",
    "tests/sync/test_sync_held.py",
    "tests/test_walkthrough.py",
    "tests/mesh/test_forward_mesh.py",
    "tests/mesh/test_keep_days.py",
)


# The bound of a test in those files and in the network-namespace group (seconds; any other test's is
# ``timeout`` in pyproject.toml, 360 s). Measured 2026-12-07: ``--durations`` of those files on 2 workers at
# load 10-17, the slowest test 211 s (test_bench_all; 94 s in a CI run of 2026-12-06, so x 2.25), then
# 178 s (setup and call), 164, 144, 138; in that CI run the slowest test elsewhere took 42 s in the netns
# group (test_chaos_run) and 22 s outside both (x 2.25: 50 s). At load 30 a test takes about twice what
# it takes at load 15 (its share of the 2 CPUs halves): 1,320 s is 3 x 2 x 220 s, 360 s is 3 x 2 x 60 s.
LONG_BOUND_S = 1320


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    first = {path: rank for rank, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: first.get(item.nodeid.split("::", 1)[0], len(first)))  # (stable)
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        fixtures = getattr(item, "fixturenames", ())
        grouped = False
        for group, paths in GROUPS.items():
            if path in paths or (group == "netns" and "netbed" in fixtures):
                item.add_marker(pytest.mark.xdist_group(group))
                grouped = True
        if (path in first or grouped) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(LONG_BOUND_S))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true turns skips into failures): {report.longrepr}"


# The test time of the run (setup, call and teardown of every test, on every worker), printed at its end:
# a run's wall time follows the load of the machine it shares, the sum of its tests' times less so, and
# two runs (a change and main) are compared by it and by ``--durations`` (see .ci/run).
TEST_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    TEST_SECONDS[report.when] = TEST_SECONDS.get(report.when, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TEST_SECONDS:
        parts = ", ".join(f"{when} {seconds:.0f} s" for when, seconds in TEST_SECONDS.items())
        total = sum(TEST_SECONDS.values())
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        terminalreporter.write_line(f"test time: {total:.0f} s ({parts}); load average {load}")


@pytest.fixture
def recounts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents (guids) whose live tally was counted afresh, in order: a spy on
    ``LedgerTally.recount`` for tests of when the node's status and the console recount a day."""
    from meshpos.model.tally import LedgerTally

    seen: list[str] = []
    real = LedgerTally.recount

    def counted(tally: LedgerTally) -> bool:
        seen.append(tally.doc.guid)
        return real(tally)

    monkeypatch.setattr(LedgerTally, "recount", counted)
    return seen
