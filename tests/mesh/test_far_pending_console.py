"""The console's sync status per register in a venue with bounded links (nineteenth session, signed).

Seven ``meshpos node`` processes and a console on loopback addresses, real mDNS, mTLS websockets: at
``_topology.DEGREE`` some registers are not linked to the relay, and the relay tells the console
their pending counts from their far records, which any enrolled device on the way could forge
(``tests/outside/test_forged_far_pending.py``). The console shows a count as ``pending`` only for a
device linked to the relay (its own heartbeat on an authenticated link) and, for the others, shows
the far record's as ``pending_told`` with ``pending`` unknown; its metrics count those devices
apart. On main every reachable device had a ``pending`` and there was no ``pending_told``.

The twenty-first session: the told counts are also summed in ``meshpos_venue_pending_told``, which the
``MeshposVenueNotUploading`` alert reads (it read only the linked devices' counts, so a venue whose
unsent sales were on a far register did not alert).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.harness.wait import wait_for
from meshpos.trust.authority import VenueAuthority

from ..ops.scrape import scrape
from .kit import ConsoleProcess, NodeProcess
from .test_gone_notices_mesh import NAMES, seven_nodes, started_with_a_relay


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[tuple[VenueAuthority, ConsoleProcess, list[NodeProcess]]]:
    with seven_nodes(tmp_path) as started:
        yield started


def test_the_console_shows_a_far_registers_pending_count_as_told_only(
    venue: tuple[VenueAuthority, ConsoleProcess, list[NodeProcess]],
) -> None:
    authority, console, nodes = venue
    relay_node = started_with_a_relay(nodes)
    relay = relay_node.config.stem
    on = [p.events for p in nodes]
    path = f"/api/venues/{authority.venue_id}/status"
    seen: list[tuple[set[str], dict[str, dict[str, Any]]]] = []

    def shown() -> bool:
        """The console's view matches the relay's links as they are now (read both again until so:
        the relay's links may still move while the venue settles)."""
        linked = set(relay_node.status()["peers"]) - {"console"}
        devices: dict[str, dict[str, Any]] = console.call("GET", path)["registers"]
        if set(devices) != set(NAMES) or not all(d["reachable"] for d in devices.values()):
            return False
        told = {n for n, d in devices.items() if d["pending_told"] is not None}
        if told != set(NAMES) - linked - {relay}:
            return False
        seen.append((linked, devices))
        return True

    wait_for(shown, 60, "every device reachable, those beyond the relay's links told", on=on)
    linked, devices = seen[-1]
    far = set(NAMES) - linked - {relay}
    assert far, "at DEGREE links a relay of seven nodes has nodes beyond its links"
    for name in far:
        assert devices[name]["pending"] is None, devices[name]
    for name in linked | {relay}:
        assert isinstance(devices[name]["pending"], int), devices[name]
        assert devices[name]["pending_told"] is None

    def metrics_agree() -> bool:
        """The scrape says what the devices view says, read before and after it unchanged."""
        before = console.call("GET", path)["registers"]
        samples = scrape(console.client)
        if console.call("GET", path)["registers"] != before:
            return False
        beyond = [d for d in before.values() if d["reachable"] and d["pending"] is None]
        told = [d["pending_told"] for d in beyond if d["pending_told"] is not None]
        venue_id = authority.venue_id
        return samples.get_one("meshpos_venue_devices_pending_unknown", venue=venue_id) == len(
            beyond
        ) and samples.get_one("meshpos_venue_pending_told", venue=venue_id) == (
            sum(told) if told else None
        )

    wait_for(metrics_agree, 60, "the console's metrics sum the told counts", on=on)
