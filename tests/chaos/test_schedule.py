"""The fault schedule depends on the seed alone: same seed, same faults; checked without running anything."""

from __future__ import annotations

import argparse
import itertools

import pytest

from meshpos.chaos import add_chaos_arguments, run_chaos
from meshpos.chaos.schedule import KINDS, RELAY, digest, make_schedule
from meshpos.chaos.venue import names

NODES, REGISTERS = names()


def test_the_same_seed_gives_the_same_schedule() -> None:
    first = make_schedule(42, 25, NODES, REGISTERS)
    again = make_schedule(42, 25, NODES, REGISTERS)
    assert first == again
    assert digest(first) == digest(again)
    others = {digest(make_schedule(seed, 25, NODES, REGISTERS)) for seed in range(20)}
    assert len(others) == 20, "different seeds should give different schedules"


@pytest.mark.parametrize("seed", range(30))
def test_a_schedule_has_every_kind_and_no_clashes(seed: int) -> None:
    duration = 25.0
    faults = make_schedule(seed, duration, NODES, REGISTERS)
    assert {f.kind for f in faults} == set(KINDS), "a short run still gets every kind"
    assert faults == sorted(faults, key=lambda f: f.at)
    for fault in faults:
        assert 1.0 <= fault.at <= duration - 1.0
        assert fault.duration == 0 if fault.kind == "restart" else 2.0 <= fault.duration <= 6.0
        if fault.kind == "kill_relay":
            assert fault.targets == (RELAY,)
        elif fault.kind == "internet":
            assert fault.targets == ("console",)
        elif fault.kind == "partition":
            assert 1 <= len(fault.targets) <= len(NODES) // 2
        else:
            assert len(fault.targets) == 1
            assert fault.targets[0] in NODES
    for kind in ("cable", "loss", "rate", "partition", "internet"):
        # two faults of one kind on one target never overlap (undoing one would undo the other)
        targets = {f.targets[0] if kind != "partition" else "" for f in faults if f.kind == kind}
        for target in targets:
            spans = sorted(
                (f.at, f.ends)
                for f in faults
                if f.kind == kind and (kind == "partition" or f.targets[0] == target)
            )
            for (_, end), (start, _) in itertools.pairwise(spans):
                assert end <= start, f"{kind} {target} overlaps itself: {spans}"


def test_schedule_only_prints_the_same_schedule_twice_and_runs_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser()
    add_chaos_arguments(parser)
    args = parser.parse_args(["--seed", "7", "--duration", "30", "--schedule-only"])
    outputs = []
    for _ in range(2):
        assert run_chaos(args) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    expected = digest(make_schedule(7, 30, NODES, REGISTERS))
    assert outputs[0].startswith("seed 7, ")
    assert expected in outputs[0]
    assert len(outputs[0].splitlines()) == 1 + len(make_schedule(7, 30, NODES, REGISTERS))
