"""Fixtures for the web tests: linked real nodes, a headless Chromium, and a folder for screenshots."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
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


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """Where screenshots go: $MESHPOS_ARTIFACTS (CI keeps it) or the system's temp folder."""
    root = Path(
        os.environ.get("MESHPOS_ARTIFACTS") or Path(tempfile.gettempdir()) / "meshpos-artifacts"
    )
    folder = root / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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
