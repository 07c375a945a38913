"""Carrying out the schedule on the bed and the processes, undoing each fault, and healing everything.

Each fault runs in a task of its own: wait for its time, inject it, wait for its duration (cut short
when the fault period ends), undo it. So a slow restart never delays the next fault's start, and every
fault is undone by the code that knows how. :meth:`Faults.heal` then puts *everything* right regardless
(idempotent), and :meth:`Faults.healed` checks that it really is: cables up, one bridge per LAN, no loss
rule, no rate limit, every process running.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from meshpos.chaos.netbed import Host, NetBedError
from meshpos.chaos.schedule import Fault
from meshpos.chaos.venue import Network
from meshpos.errors import MeshposError
from meshpos.harness.procs import Proc


@dataclass
class Faults:
    net: Network
    nodes: dict[str, Proc]
    registers: tuple[str, ...]
    say: Callable[[str], None]
    injected: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def _host(self, name: str) -> Host:
        return self.net.hosts[name]

    async def run(self, schedule: list[Fault], started: float, stop: asyncio.Event) -> None:
        """Play the schedule from ``started`` (monotonic) until it is done or ``stop`` is set."""
        await asyncio.gather(*(self._one(f, started, stop) for f in schedule))

    async def _one(self, fault: Fault, started: float, stop: asyncio.Event) -> None:
        """One fault's life. A failure (a node that does not come back) is recorded, not raised: the
        run goes on, :meth:`heal` retries, and the report says what went wrong."""
        if await _wait(stop, started + fault.at - time.monotonic()):
            return  # the fault period ended before this fault's time
        try:
            hit = await self._inject(fault)
            if hit is None:
                return
            await _wait(stop, started + fault.ends - time.monotonic())
            await self._undo(fault, hit)
        except (MeshposError, NetBedError) as exc:
            self.errors.append(f"{fault.describe()}: {exc}")
            self._note(f"error in {fault.describe()}: {exc}")

    async def _inject(self, fault: Fault) -> list[str] | None:
        """Inject ``fault``; the nodes it hit (for kill_relay: who was relay), None if skipped."""
        bed, kind = self.net.bed, fault.kind
        targets = list(fault.targets)
        if kind == "cable":
            bed.cable(self._host(targets[0]), up=False)
        elif kind == "partition":
            bed.split([self._host(t) for t in targets])
        elif kind == "internet":
            bed.cable(self.net.console, up=False, lan=self.net.wan)
        elif kind == "loss":
            host = self._host(targets[0])
            bed.loss(host, float(fault.param), nic=host.nic())
        elif kind == "rate":
            bed.limit(self._host(targets[0]), fault.param)
        elif kind == "kill_relay":
            relay = await self.relay()
            if relay is None or not await self.nodes[relay].kill():
                self._skip(fault, "no live relay at that moment")
                return None
            targets = [relay]
        elif kind == "kill" and not await self.nodes[targets[0]].kill():
            self._skip(fault, "already down")
            return None
        note = f" -> {targets[0]}" if kind == "kill_relay" else ""
        if kind == "restart":
            begun = time.monotonic()
            await self.nodes[targets[0]].restart()
            note = f" (back after {time.monotonic() - begun:.1f} s)"
        self.injected[kind] += 1
        self._note(fault.describe() + note)
        return targets

    async def _undo(self, fault: Fault, hit: list[str]) -> None:
        bed, kind = self.net.bed, fault.kind
        if kind == "cable":
            bed.cable(self._host(hit[0]), up=True)
        elif kind == "partition":
            bed.join()
        elif kind == "internet":
            bed.cable(self.net.console, up=True, lan=self.net.wan)
        elif kind == "loss":
            bed.loss(self._host(hit[0]), 0.0)
        elif kind == "rate":
            bed.unlimit(self._host(hit[0]))
        elif kind in ("kill", "kill_relay"):
            await self.nodes[hit[0]].start()
        else:
            return
        self._note(f"undo {kind} {','.join(hit)}")

    async def relay(self) -> str | None:
        """The register that says it is relay now (lowest name if two claim it: allowed, briefly)."""
        names = [n for n in self.registers if self.nodes[n].alive]
        answers = await asyncio.gather(
            *(self.nodes[n].call("GET", "/status", timeout=3) for n in names)
        )
        claims = sorted(
            n for n, a in zip(names, answers, strict=True) if a.ok and a.json()["is_relay"]
        )
        return claims[0] if claims else None

    def _skip(self, fault: Fault, why: str) -> None:
        self.skipped.append(f"{fault.describe()}: {why}")
        self._note(f"skipped {fault.describe()}: {why}")

    def _note(self, text: str) -> None:
        self.log.append(text)
        self.say(text)

    # --- healing ----------------------------------------------------------------------------------

    async def heal(self) -> None:
        """Every cable up, the LAN whole, no loss or rate limit, every node running."""
        bed = self.net.bed
        bed.join(self.net.lan)
        bed.cable(self.net.console, up=True, lan=self.net.wan)
        for host in [*self.net.hosts.values(), self.net.router, self.net.console]:
            for nic in host.nics:
                bed.cable(host, up=True, lan=nic.lan)
            bed.loss(host, 0.0)
            bed.unlimit(host)
        await asyncio.gather(*(proc.start() for proc in self.nodes.values()))

    def healed(self) -> list[str]:
        """What is still not right after :meth:`heal` (empty when all is well)."""
        bed, problems = self.net.bed, []
        for host in [*self.net.hosts.values(), self.net.router, self.net.console]:
            for nic in host.nics:
                up, bridge = bed.port(host, nic.lan)
                if not up or bridge != nic.lan.bridge:
                    problems.append(f"{host.name} port on {nic.lan.name}: up={up} bridge={bridge}")
            if bed.qdisc(host) == "tbf":
                problems.append(f"{host.name}: rate limit left")
            rules = bed.run(host, ["iptables", "-w", "-S", "INPUT"]).stdout
            if "DROP" in rules:
                problems.append(f"{host.name}: loss rule left")
        problems += [f"{n}: not running" for n, p in self.nodes.items() if not p.alive]
        return problems


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True if it was."""
    if stop.is_set():
        return True
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, seconds)):
            await stop.wait()
    return stop.is_set()
