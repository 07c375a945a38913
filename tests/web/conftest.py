"""Fixtures for the web tests: linked real nodes, a headless Chromium, and a folder for screenshots; a
failed test's folder also gets the nodes' log (nodes.log: every meshpos record of the test, DEBUG up)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import tempfile
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest

from meshpos.config import Config
from meshpos.harness.wait import until
from meshpos.node import Node
from meshpos.node_adapters import make_node

from .cdp import Browser, chromium_missing


@contextlib.asynccontextmanager
async def running(configs: list[Config]) -> AsyncIterator[list[Node]]:
    """Start the nodes and link every pair (both sides dial, so no one waits out the grace period)."""
    async with contextlib.AsyncExitStack() as stack:
        nodes = [await stack.enter_async_context(make_node(c, discovery=False)) for c in configs]
        for a in nodes:
            for b in nodes:
                if a is not b:
                    a.add_peer(b.config.node_id, "127.0.0.1", b.port)
        await until(
            lambda: all(
                len(p := n.status().peers) == len(nodes) - 1 and all(p.values()) for n in nodes
            ),
            15,
            "every node linked to and in sync with every other",
            on=nodes,
        )
        yield nodes


def artifact_folder(item: pytest.Item) -> Path:
    """A test's folder under $MESHPOS_ARTIFACTS (CI keeps it) or the system's temp folder."""
    root = Path(
        os.environ.get("MESHPOS_ARTIFACTS") or Path(tempfile.gettempdir()) / "meshpos-artifacts"
    )
    folder = root / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """Where screenshots go."""
    return artifact_folder(request.node)


FAILED = pytest.StashKey[bool]()
NODE_LOG = "nodes.log"
LOG_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.failed:
        item.stash[FAILED] = True


class Kept(logging.Handler):
    """The records of one test, formatted, in memory until the test is over."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(LOG_FORMAT, "%H:%M:%S"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def kept_logs(logger: logging.Logger) -> Iterator[Kept]:
    """Every record of ``logger`` (DEBUG up) while inside: the nodes run in this process and log here."""
    handler, level = Kept(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture(autouse=True)
def node_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """A failed test's artifact folder gets the nodes' log beside its screenshots: what each node did
    and when (links, rounds, refusals) is what a failure that showed once in CI needs."""
    with kept_logs(logging.getLogger("meshpos")) as kept:
        yield
    # teardown runs before the teardown report: a failure in the test's call (or set-up) is known here
    if request.node.stash.get(FAILED, False):
        (artifact_folder(request.node) / NODE_LOG).write_text("\n".join(kept.lines) + "\n")


async def keep_last_view(chromium: Browser, artifacts: Path) -> None:
    """Each page as the test left it (screenshot, text, script errors): what a failure report needs."""
    for i, page in enumerate(chromium.pages, start=1):
        name = re.sub(r"[^A-Za-z0-9]+", "-", page.name).strip("-")
        try:
            await page.screenshot(artifacts / f"last-{i}-{name}.png")
            text = await page.eval("document.body.innerText")
        except Exception as exc:
            text = f"(page unreadable: {exc})"
        report = f"{text}\n\nscript errors: {page.errors}\n\nnetwork:\n" + "\n".join(page.network)
        await asyncio.to_thread((artifacts / f"last-{i}-{name}.txt").write_text, report)


@pytest.fixture
async def browser(tmp_path: Path, artifacts: Path) -> AsyncIterator[Browser]:
    missing = chromium_missing()
    if missing:
        pytest.skip(missing)
    chromium = await Browser.launch(tmp_path / "chromium-profile")
    try:
        yield chromium
    finally:
        await keep_last_view(chromium, artifacts)
        await chromium.close()
        log = tmp_path / "chromium-profile" / "chromium.log"
        if log.exists():
            (artifacts / "chromium.log").write_text(log.read_text(errors="replace"))
