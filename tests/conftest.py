"""Shared test set-up. With CI=true a skipped test fails: a test that cannot run in CI does not exist."""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        fixtures = getattr(item, "fixturenames", ())
        for group, paths in GROUPS.items():
            if path in paths or (group == "netns" and "netbed" in fixtures):
                item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true turns skips into failures): {report.longrepr}"


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
