"""The fault schedule of a chaos run: drawn up front from ``random.Random(seed)`` and nothing else.

Why up front: a failing run must be reproducible from its seed alone. The schedule (times, kinds, targets,
durations, parameters) depends only on the seed, the duration and the node names, never on what happened
while the run went on, so ``--seed N`` replays the same faults at the same offsets. What the mesh does in
between (which node is relay when "kill the relay" fires, which sales land) is of course not repeatable;
the schedule names the *intent* ("relay") and the run log names who it hit.

Faults on one resource never overlap (two loss rules on a host would undo each other), and every kind is
placed at least once when the duration allows, so even a short CI run exercises all of them.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass

KINDS = ("cable", "partition", "internet", "loss", "rate", "kill", "kill_relay", "restart")
RELAY = "relay"  # the target of kill_relay: whoever is relay at that moment
RATES = ("128kbit", "256kbit", "512kbit", "1mbit")
SETTLE_S = 3.0  # a restarted node needs this long before another fault on its process makes sense


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: begins ``at`` seconds into the fault period and is undone ``duration`` s later."""

    at: float
    kind: str
    targets: tuple[str, ...]  # node names; ("relay",) for kill_relay; partition: the side cut off
    duration: float  # 0 for restart (a graceful stop and start at once)
    param: str = ""  # loss: the probability; rate: the tbf rate

    @property
    def ends(self) -> float:
        return self.at + self.duration

    def describe(self) -> str:
        what = f"{self.kind} {','.join(self.targets)}"
        if self.param:
            what += f" {self.param}"
        if self.duration:
            what += f" for {self.duration:.1f} s"
        return f"t={self.at:6.2f}s {what}"


def _resources(kind: str, targets: tuple[str, ...], nodes: tuple[str, ...]) -> set[str]:
    """What a fault holds while it lasts; two faults sharing one must not overlap."""
    if kind == "partition":
        return {"partition"}
    if kind == "internet":
        return {"internet"}
    if kind == "kill_relay":  # may hit any register: hold every process that could be relay
        return {f"proc:{n}" for n in nodes}
    prefix = {"cable": "link", "loss": "loss", "rate": "rate", "kill": "proc", "restart": "proc"}
    return {f"{prefix[kind]}:{t}" for t in targets}


def _draw(rng: random.Random, kind: str, at: float, nodes: tuple[str, ...]) -> Fault:
    """One fault of ``kind`` starting ``at``; every random choice comes from ``rng``, in a fixed order."""
    duration = round(rng.uniform(2.0, 6.0), 2)
    param = ""
    if kind == "partition":
        side = rng.sample(nodes, rng.randint(1, len(nodes) // 2))
        targets = tuple(sorted(side))
    elif kind == "internet":
        targets = ("console",)
    elif kind == "kill_relay":
        targets = (RELAY,)
    else:
        targets = (rng.choice(nodes),)
    if kind == "loss":
        param = f"{rng.choice((0.05, 0.1, 0.2, 0.3)):.2f}"
    elif kind == "rate":
        param = rng.choice(RATES)
    elif kind == "restart":
        duration = 0.0
    return Fault(round(at, 2), kind, targets, round(duration, 2), param)


def make_schedule(
    seed: int, duration: float, nodes: tuple[str, ...], registers: tuple[str, ...]
) -> list[Fault]:
    """The faults of a run of ``duration`` seconds, sorted by time.

    ``nodes`` are every node's name (targets of cable pulls, loss, kills...), ``registers`` the ones that
    may be relay. Faults begin in [1 s, duration - 1 s] and last 2-6 s; one still on at ``duration`` is
    cut short by the healing, so the run also measures convergence from a venue that is still broken
    (a relay just killed, an outage's backlog) and not only from one that already recovered.
    """
    rng = random.Random(seed)
    first, last = 1.0, max(1.5, duration - 1.0)
    taken: list[tuple[float, float, set[str]]] = []
    faults: list[Fault] = []

    def place(kind: str, at: float) -> bool:
        fault = _draw(rng, kind, at, nodes)
        held = _resources(kind, fault.targets, registers)
        until = fault.ends + (SETTLE_S if any(r.startswith("proc:") for r in held) else 0.5)
        if any(a < until and fault.at < b and held & res for a, b, res in taken):
            return False
        taken.append((fault.at, until, held))
        faults.append(fault)
        return True

    mandatory = [k for k in KINDS if k != "kill_relay"]
    rng.shuffle(mandatory)
    # kill_relay first: it holds every register's process, so it is the hardest to fit in later
    for kind in ["kill_relay", *mandatory]:  # tries at fresh random times, then give up on it
        for _ in range(40):
            if place(kind, rng.uniform(first, last)):
                break
    extra = int(duration / 4)
    for _ in range(extra):
        place(rng.choice(KINDS), rng.uniform(first, last))
    return sorted(faults, key=lambda f: (f.at, f.kind, f.targets))


def schedule_json(faults: list[Fault]) -> list[dict[str, object]]:
    return [asdict(f) for f in faults]


def digest(faults: list[Fault]) -> str:
    """A short fingerprint of the schedule: equal seeds give equal digests (printed in the result)."""
    text = json.dumps(schedule_json(faults), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
