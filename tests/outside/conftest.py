"""Fixtures of the outside rounds' tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpos.trust import VenueAuthority

from ..mesh.kit import NodeProcess, make_device, make_venue


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[VenueAuthority, NodeProcess]]:
    """One register of a new venue as its own process, and the venue's authority (to enroll the
    attacker's device with); killed after."""
    authority = make_venue(tmp_path)
    config = make_device(authority, tmp_path, "R1")
    node = NodeProcess(config, tmp_path / "R1.log").start()
    try:
        yield authority, node
    finally:
        node.kill()
