"""The namespace test bed for pytest: :class:`meshpos.chaos.netbed.NetBed` plus a fixture.

The bed itself lives in the product because ``meshpos chaos`` builds its venue on it; this module only
re-exports it and adds the ``netbed`` fixture. Use from pytest (any test package)::

    from tests.netbed import NetBed, netbed_fixture  # noqa: F401  (provides the netbed fixture)

    def test_x(netbed: NetBed) -> None:
        a, b = netbed.add_host("a"), netbed.add_host("b")
        netbed.spawn(a, [sys.executable, "-c", "..."], stdout=subprocess.PIPE)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from meshpos.chaos.netbed import MARKERS, Host, Lan, NetBed, NetBedError, Nic, alive

__all__ = ["MARKERS", "Host", "Lan", "NetBed", "NetBedError", "Nic", "alive", "netbed_fixture"]


@pytest.fixture(name="netbed")
def netbed_fixture() -> Iterator[NetBed]:
    """A fresh bed per test, closed afterwards; skipped (a failure with CI=true) where it cannot run."""
    ok, why = NetBed.available()
    if not ok:
        pytest.skip(f"network test bed unavailable: {why}")
    NetBed.sweep_stale()
    with NetBed() as bed:
        yield bed
