"""The test bed of tests/yjs: a real ``meshpos node`` and stock Yjs clients (tests/yjs/kit.py)."""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mesh.kit import NodeProcess, make_device, make_venue
from tests.yjs.kit import Bed, npm_folder


@pytest.fixture
def bed(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Bed]:
    npm = npm_folder(getattr(request.config, "cache", None))
    authority = make_venue(tmp_path)
    host = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.19"
    tokens = {"tablet": secrets.token_urlsafe(24), "board": secrets.token_urlsafe(24)}
    config = make_device(
        authority,
        tmp_path,
        "R1",
        host=host,
        yjs_tokens=[f"tablet:register:{tokens['tablet']}", f"board:reader:{tokens['board']}"],
    )
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
    bed = Bed(node, authority, tmp_path, npm, host, tokens, [])
    try:
        yield bed
    finally:
        for client in bed.clients:
            client.close()
        node.stop()
