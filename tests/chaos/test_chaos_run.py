"""A short ``meshpos chaos`` run, as CI runs it: the venue in namespaces under every kind of fault, then
every acknowledged money record on every node and at the console — none lost, none twice, none left out.

Six registers and a kitchen screen: seven devices, more than a full mesh's ``FULL_MESH``, so the nodes
link on the bounded topology (issue 18): most updates arrive forwarded, a partition or a killed node
changes who links to whom, and the kitchen screen hangs on two registers.

Needs root and ``ip netns`` (skipped otherwise, which CI=true turns into a failure). About a minute:
set-up ~6 s, 25 s of faults, healing and convergence, teardown.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from meshpos.chaos import add_chaos_arguments, run_chaos
from meshpos.chaos.netbed import NetBed
from meshpos.chaos.schedule import KINDS
from meshpos.chaos.workload import MONEY
from meshpos.sync._topology import FULL_MESH

REGISTERS = 6


@pytest.mark.slow
def test_a_short_chaos_run_loses_duplicates_and_diverges_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, why = NetBed.available()
    if not ok:
        pytest.skip(f"network test bed unavailable: {why}")
    beds: list[NetBed] = []  # the run's own beds: another test process on the machine may hold one
    made = NetBed.__init__

    def recorded(bed: NetBed) -> None:
        made(bed)
        beds.append(bed)

    monkeypatch.setattr(NetBed, "__init__", recorded)
    parser = argparse.ArgumentParser()
    add_chaos_arguments(parser)
    args = parser.parse_args(
        [
            *("--seed", "20261125", "--duration", "25", "--registers", str(REGISTERS)),
            *("--json", "--verbose", "--dir", str(tmp_path)),
        ]
    )
    assert REGISTERS + 1 > FULL_MESH, "the venue must be too big for a full mesh"
    code = run_chaos(args)
    captured = capsys.readouterr()
    print(captured.err)  # the run's progress, shown when the test fails
    result = json.loads(captured.out)
    print(json.dumps(result, indent=2))

    assert result["seed"] == 20261125
    assert len(result["nodes"]) == REGISTERS + 1
    assert result["receipts"] > 10, "the cashiers sold next to nothing"
    assert result["payments"] >= result["receipts"]
    assert result["lost"] == 0, result.get("examples")
    assert result["duplicated"] == 0, result.get("examples")
    assert result["diverged"] == [], result["checked"]
    assert result["unexpected"] == 0
    assert result["altered"] == 0
    assert result["numbers_reused"] == 0
    assert result["converge_s"] is not None
    assert result["registers_synced_s"] is not None, "a register did not say All data is synced"
    assert result["no_sales"] > 0, "the cashiers never opened the drawer with no sale"
    assert result["present_at_console"] == {kind: result[kind] for kind in MONEY}
    assert result["not_healed"] == []
    assert len(set(result["relays"].values())) == 1, f"the nodes name {result['relays']}"
    assert None not in result["relays"].values(), f"the nodes name {result['relays']}"
    assert result["errors"] == []
    assert result["sales"]["splits"] > 0, "no order was split by items and paid as two bills"
    assert result["sales"]["splits_unbalanced"] == 0
    injected = {kind for kind, n in result["faults"].items() if n > 0}
    assert len(injected) >= 6, f"only {sorted(injected)} of {KINDS} were injected"
    assert {"cable", "partition", "internet", "kill"} <= injected
    assert all(set(kinds) == set(MONEY) for kinds in result["checked"].values())
    assert code == 0
    assert beds, "the run built no namespace bed"
    tokens = tuple(bed.token + "-" for bed in beds)
    left = [ns for ns in NetBed.namespaces() if ns.startswith(tokens)]
    assert not left, f"namespaces left behind: {left}"
