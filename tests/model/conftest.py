from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from meshpos.model import Replica, Venue
from meshpos.model.sample import CASHIER, sample_catalog

NOW = 1_764_064_800_000  # 2025-11-25 10:00 UTC


def sync(*replicas: Replica) -> None:
    """Full-state exchange between every pair (what anti-entropy would converge to)."""
    for src in replicas:
        for dst in replicas:
            if src is not dst:
                for name in src.names():
                    dst.apply(name, src.doc(name).get_update(dst.doc(name).get_state()))


def make_venue(
    device: str = "R1", role: str = "register", catalog_from: Replica | None = None
) -> Venue:
    replica = Replica()
    if catalog_from is not None:
        replica.apply("catalog", catalog_from.doc("catalog").get_update())
    venue = Venue(replica, device=device, role=role)
    if catalog_from is None:
        sample_catalog(venue.catalog, pin_hash="x")
    replica.take_updates()
    return venue


def shifts_open(*devices: str) -> list[Venue]:
    """Registers of one venue, each its own replica with the sample catalog and a shift open at NOW
    (not yet synced with each other)."""
    venues = []
    for device in devices:
        venue = Venue(Replica(), device=device)
        sample_catalog(venue.catalog)
        venue.open_shift_now(CASHIER, 0, NOW)
        venues.append(venue)
    return venues


@dataclass
class Acked:
    """Money records acknowledged to a cashier (after their commit), by kind."""

    payments: set[str] = field(default_factory=set)
    receipts: set[str] = field(default_factory=set)
    refunds: set[str] = field(default_factory=set)
    shifts: set[str] = field(default_factory=set)
    cash_moves: set[str] = field(default_factory=set)

    def count(self) -> int:
        return sum(
            map(len, (self.payments, self.receipts, self.refunds, self.shifts, self.cash_moves))
        )


@pytest.fixture
def venue() -> Venue:
    return make_venue()


@pytest.fixture
def open_venue(venue: Venue) -> Venue:
    venue.open_shift_now(CASHIER, 10_000, NOW)
    venue.replica.take_updates()
    return venue


@pytest.fixture
def unchanged() -> Callable[[Venue], None]:
    """Assert that the last failed call wrote nothing (no update was produced)."""

    def check(venue: Venue) -> None:
        assert venue.replica.take_updates() == []

    return check
