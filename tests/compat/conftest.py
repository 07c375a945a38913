"""The previous release, built once per checkout (see previous.py)."""

from __future__ import annotations

import pytest

from .previous import Release, build


@pytest.fixture(scope="session")
def previous_release(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Release:
    """Built under pytest's cache directory, kept between runs; in a run's temporary directory when
    the cache is switched off (``-p no:cacheprovider``)."""
    cache = getattr(request.config, "cache", None)
    home = cache.mkdir("previous-release") if cache is not None else None
    return build(home or tmp_path_factory.mktemp("previous-release"))
