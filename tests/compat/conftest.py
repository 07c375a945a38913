"""The previous release, built once per checkout (see previous.py)."""

from __future__ import annotations

import pytest

from .previous import Release, build


@pytest.fixture(scope="session")
def previous_release(request: pytest.FixtureRequest) -> Release:
    return build(request.config.cache.mkdir("previous-release"))
