"""A partition of a venue on the bounded topology (issue 18), with real processes in namespaces: half
the venue is cut off from the other half (and from the router, so from the console) while every
register sells, the relay is killed on the connected side and comes back while the venue is still
split; after the heal every node catches up across the topology, every node names the same relay
and every register says "All data is synced". None lost, none twice.

Needs root and ``ip netns`` (skipped otherwise, which CI=true turns into a failure). About 40 s.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from meshpos.chaos.netbed import NetBed
from meshpos.chaos.run import Chaos, Settings
from meshpos.chaos.schedule import RELAY, Fault
from meshpos.chaos.venue import names
from meshpos.chaos.workload import MONEY
from meshpos.sync._topology import DEGREE

REGISTERS = 6
SEED = 20261205


@pytest.mark.slow
def test_after_a_partition_heals_the_bounded_mesh_catches_up_and_agrees_on_one_relay(
    tmp_path: Path,
) -> None:
    ok, why = NetBed.available()
    if not ok:
        pytest.skip(f"network test bed unavailable: {why}")
    nodes, _ = names(REGISTERS)
    assert len(nodes) > DEGREE + 1  # the bounded topology, not a full mesh
    cut_off = ("K1", "R4", "R5", "R6")  # half the venue, a kitchen screen among them
    schedule = [
        Fault(2.0, "partition", cut_off, 12.0),
        Fault(5.0, "kill_relay", (RELAY,), 3.0),  # the connected side elects again, alone
    ]
    settings = Settings(SEED, 16.0, 3.0, 90.0, 0.5, True, REGISTERS)
    NetBed.sweep_stale()
    chaos = Chaos(settings, schedule, tmp_path)
    try:
        result = asyncio.run(chaos.main())
    finally:
        if chaos.bed is not None:
            chaos.bed.close()
    print(result)

    assert result["faults"] == {"kill_relay": 1, "partition": 1}, result["faults_skipped"]
    assert result["errors"] == []
    assert result["receipts"] > 10, "the cashiers sold next to nothing"
    assert result["lost"] == 0, result.get("examples")
    assert result["duplicated"] == 0, result.get("examples")
    assert result["diverged"] == [], result["checked"]
    assert result["unexpected"] == 0
    assert result["converge_s"] is not None
    assert result["registers_synced_s"] is not None, "a register did not say All data is synced"
    assert result["present_at_console"] == {kind: result[kind] for kind in MONEY}
    relays = set(result["relays"].values())
    assert len(relays) == 1, f"the nodes name {result['relays']}"
    assert None not in relays, f"the nodes name {result['relays']}"
    assert result["not_healed"] == []
    # this run's bed, not every "mp" namespace: another test process on the machine may hold a bed now
    assert chaos.bed is not None
    left = [ns for ns in NetBed.namespaces() if ns.startswith(chaos.bed.token + "-")]
    assert not left, f"namespaces left behind: {left}"
