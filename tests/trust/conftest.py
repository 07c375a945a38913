from __future__ import annotations

from pathlib import Path

import pytest

from meshpos.trust import VenueAuthority, init_venue


@pytest.fixture
def venue(tmp_path: Path) -> VenueAuthority:
    return init_venue(tmp_path / "venue", "Cafe Central", "venue-1")


@pytest.fixture
def other_venue(tmp_path: Path) -> VenueAuthority:
    """Another CA with the very same venue id and name: only the key differs."""
    return init_venue(tmp_path / "other-venue", "Cafe Central", "venue-1")
