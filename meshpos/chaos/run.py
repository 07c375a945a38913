"""``meshpos chaos``: the venue in network namespaces, random faults for a while, then the reckoning.

Phases: build the venue and its network; wait until the mesh is up and every register is green; sell
while the schedule's faults happen; heal everything; wait until every node and the console hold every
money record (``converge_s``); compare what each holds with what was acknowledged. Whatever happens —
an error, Ctrl-C, SIGTERM — the processes in the namespaces are killed and the namespaces deleted.
"""

from __future__ import annotations

import asyncio
import functools
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshpos.chaos.agent import Agent
from meshpos.chaos.faults import Faults
from meshpos.chaos.netbed import NetBed, NetBedError
from meshpos.chaos.reconcile import (
    CONSOLE,
    Holdings,
    console_alarms,
    console_holdings,
    node_holdings,
    reconcile,
)
from meshpos.chaos.schedule import Fault
from meshpos.chaos.venue import (
    REGISTERS,
    Network,
    build_network,
    devices,
    expected_links,
    write_config,
)
from meshpos.chaos.workload import Cashier, Ledger
from meshpos.errors import MeshposError
from meshpos.harness.procs import Proc, console_argv, node_argv
from meshpos.harness.venue import PairedVenue, build_venue
from meshpos.harness.wait import TimedOut, until
from meshpos.model.sample import CASHIER

POLL_S = 0.25  # checking a condition across namespaces costs agent round trips: not too often


@dataclass
class Settings:
    seed: int
    duration: float
    rate: float
    converge_timeout: float
    heartbeat: float
    verbose: bool
    registers: int = REGISTERS


@dataclass
class Chaos:
    settings: Settings
    schedule: list[Fault]
    root: Path
    bed: NetBed | None = None
    net: Network | None = None
    venue: PairedVenue | None = None
    console: Proc | None = None
    nodes: dict[str, Proc] = field(default_factory=dict)
    agents: list[Agent] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)
    started: float = field(default_factory=time.monotonic)
    terminated: bool = False  # SIGTERM arrived: the run was cancelled and torn down
    healing_from: float = 0.0  # monotonic time the fault period ended
    unsynced: str = ""  # the last register found not saying All data is synced, and what it said

    def say(self, text: str, detail: bool = False) -> None:
        """Progress on stderr (stdout is the result); fault-by-fault detail only with --verbose."""
        if self.settings.verbose or not detail:
            print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=sys.stderr, flush=True)

    @property
    def registers(self) -> tuple[str, ...]:
        assert self.venue is not None
        return self.venue.registers

    # --- set-up -----------------------------------------------------------------------------------

    async def setup(self) -> None:
        self.venue = venue = await build_venue(
            self.root, "Café Chaos", devices(self.settings.registers)
        )
        self.bed = bed = NetBed()
        self.net = net = build_network(bed, list(venue.devices))
        self.say(
            f"venue {venue.authority.venue_id}: {len(venue.devices)} devices paired; "
            f"network {bed.token} (LAN {net.lan.subnet}, console {net.console.ip})"
        )
        hosts = [*net.hosts.values(), net.console]
        self.agents = list(await asyncio.gather(*(Agent.start(bed, h) for h in hosts)))
        agent_of = dict(zip([h.name for h in hosts], self.agents, strict=True))
        token_file = self.root / "console-admin.token"
        beat = self.settings.heartbeat
        argv = console_argv(venue.db_url, [venue.authority.directory], token_file, beat, "0.0.0.0")
        self.console = Proc(
            CONSOLE,
            argv,
            self.root / "console.log",
            token_file,
            command=functools.partial(bed.command, net.console),
            requester=agent_of["console"],
        )
        await self.console.start()
        port = str(self.console.ready["console"]).rsplit(":", 1)[1]
        for name, device in venue.devices.items():
            host = net.hosts[name]
            write_config(
                device,
                host.ip,
                console_url=f"ws://{net.console.ip}:{port}",
                console_token=venue.authority.console_token,
                heartbeat=beat,
            )
            self.nodes[name] = Proc(
                name,
                node_argv(device.config),
                self.root / f"{name}.log",
                device.data_dir / "api.token",
                command=functools.partial(bed.command, host),
                requester=agent_of[host.name],
            )
        await asyncio.gather(*(p.start() for p in self.nodes.values()))
        took = await self.until(
            self.ready, 90, "the mesh, a relay and the catalog on every register"
        )
        self.say(f"mesh up, every register green, {took:.1f} s after the nodes started")
        for name in self.registers:
            shift = {"user": CASHIER, "opening_cash": 20_000}
            opened = await self.nodes[name].call("POST", "/api/shifts", shift)
            if not opened.ok:
                raise MeshposError(f"{name}: opening a shift failed: {opened.body[:300]}")

    async def ready(self) -> bool:
        """Every node linked with each of its neighbours (every other node in a venue of up to five
        devices; the bounded topology's neighbours beyond), every register green and holding the
        catalog."""
        assert self.venue is not None
        roles = {name: device.role for name, device in self.venue.devices.items()}
        wanted = expected_links(list(self.nodes), roles)
        for name, proc in self.nodes.items():
            status = await proc.call("GET", "/status", timeout=3)
            if not status.ok:
                return False
            state = status.json()
            if not wanted[name] <= set(state["peers"]) or not all(state["peers"].values()):
                return False
            if name in self.registers:
                catalog = await proc.call("GET", "/api/catalog", timeout=3)
                if state["colour"] != "green" or not catalog.ok or not catalog.json()["products"]:
                    return False
        return True

    async def until(self, check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
        """Wait for ``check()``; the seconds it took. The nodes' APIs are in other namespaces (reached
        through agents, no event stream), so this is a condition checked every quarter second."""
        return await until(check, timeout, what, every=POLL_S)

    # --- the fault period -------------------------------------------------------------------------

    async def day(self, faults: Faults) -> None:
        s = self.settings
        period = len(self.registers) / s.rate
        stop = asyncio.Event()
        cashiers = [
            Cashier(self.nodes[n], self.ledger, period, random.Random(f"{s.seed}-sales-{n}"))
            for n in self.registers
        ]
        begun = time.monotonic()
        self.say(
            f"fault period: {len(self.schedule)} faults over {s.duration:.0f} s, {s.rate:g} sales/s"
        )
        tasks = [asyncio.create_task(faults.run(self.schedule, begun, stop))]
        tasks += [asyncio.create_task(c.run(stop)) for c in cashiers]
        try:
            await asyncio.sleep(s.duration)  # the length of the business day being simulated
            self.healing_from = time.monotonic()  # faults still on are undone from here
            stop.set()
            await asyncio.gather(*tasks)
        finally:  # after an error, Ctrl-C or SIGTERM: no winding down, straight to teardown
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self.say(f"fault period over: {len(self.ledger.acked['receipts'])} sales acknowledged")

    # --- the reckoning ----------------------------------------------------------------------------

    async def holdings(self, full: bool) -> dict[str, Holdings]:
        """Every holder's records; refunds of every receipt when ``full``, else only of the receipts
        the cashiers refunded (enough to poll for convergence, much cheaper)."""
        assert self.console is not None
        assert self.venue is not None
        targets = None if full else self.ledger.refund_tried
        names = list(self.nodes)
        got = await asyncio.gather(
            *(node_holdings(self.nodes[n], targets) for n in names),
            console_holdings(self.console, self.venue.authority.venue_id),
        )
        return dict(zip([*names, CONSOLE], got, strict=True))

    async def converge(self, healed_at: float) -> float | None:
        """Seconds from the start of healing until every holder has everything; None past the deadline."""

        async def converged() -> bool:
            check = reconcile(self.ledger, await self.holdings(full=False))
            return check["lost"] == 0 and not check["diverged"]

        remaining = healed_at + self.settings.converge_timeout - time.monotonic()
        try:
            await until(converged, remaining, "convergence", every=POLL_S)
        except TimedOut:
            return None
        return round(time.monotonic() - healed_at, 2)

    async def synced(self) -> bool:
        """Every register says green and "All data is synced" (pending 0): what a cashier is told."""
        unsynced = []
        for name in self.registers:
            status = await self.nodes[name].call("GET", "/status", timeout=3)
            if not status.ok or status.json()["colour"] != "green" or status.json()["pending"]:
                said = status.json() if status.ok else {}
                unsynced.append(
                    f"{name}: {said.get('colour')} — {said.get('message')} (by device "
                    f"{said.get('owed_by_device')}, by document {said.get('pending_by_document')})"
                )
        self.unsynced = "; ".join(unsynced)
        return not unsynced

    async def registers_synced(self, healed_at: float) -> float | None:
        """Seconds from healing until every register *says* it is synced; None if they do not within
        30 s of the data being everywhere (a register whose status lies is a bug too)."""
        try:
            await self.until(self.synced, 30, "every register to say All data is synced")
        except TimedOut:
            self.say(f"not synced after 30 s: {self.unsynced}")
            return None
        return round(time.monotonic() - healed_at, 2)

    async def relays(self) -> dict[str, str | None]:
        """Per node, the relay it names once healed: one name everywhere, or the election split."""
        names = list(self.nodes)
        answers = await asyncio.gather(
            *(self.nodes[n].call("GET", "/status", timeout=3) for n in names)
        )
        return {
            n: a.json().get("relay") if a.ok else None for n, a in zip(names, answers, strict=True)
        }

    async def reckon(self, faults: Faults) -> dict[str, Any]:
        """Heal, wait for convergence, count. ``converge_s`` runs from the end of the fault period,
        when the faults still on begin to be undone (a killed relay's restart included)."""
        healed_at = self.healing_from or time.monotonic()
        await faults.heal()
        left = faults.healed()
        self.say("healed" + (f", but: {'; '.join(left)}" if left else ": every fault undone"))
        converge_s = await self.converge(healed_at)
        self.say(
            f"converged {converge_s} s after healing"
            if converge_s is not None
            else f"NOT converged within {self.settings.converge_timeout:.0f} s"
        )
        synced_s = await self.registers_synced(healed_at)
        relays = await self.relays()
        checked = reconcile(self.ledger, await self.holdings(full=True))
        assert self.console is not None
        assert self.venue is not None
        alarms = await console_alarms(self.console, self.venue.authority.venue_id)
        acked = self.ledger.acked
        result: dict[str, Any] = {
            "seed": self.settings.seed,
            "duration_s": self.settings.duration,
            "nodes": list(self.nodes),
            "faults": dict(sorted(faults.injected.items())),
            "faults_skipped": faults.skipped,
            "receipts": len(acked["receipts"]),
            "payments": len(acked["payments"]),
            "refunds": len(acked["refunds"]),
            "no_sales": len(acked["no_sales"]),
            "present_at_console": checked["present_at_console"],
            "lost": checked["lost"],
            "duplicated": checked["duplicated"],
            "diverged": checked["diverged"],
            "converge_s": converge_s,
            "registers_synced_s": synced_s,
            "relays": relays,
            "lost_everywhere": checked["lost_everywhere"],
            "unexpected": checked["unexpected"],
            "altered": checked["altered"],
            "numbers_reused": checked["numbers_reused"],
            "number_gaps": checked["number_gaps"],
            "unacknowledged_present": checked["unacknowledged_present"],
            "alarms": alarms,
            "sales": self.ledger.summary(),
            "checked": checked["checked"],
            "not_healed": left,
            "errors": faults.errors,
        }
        if any(checked["examples"].values()):
            result["examples"] = checked["examples"]
        return result

    async def main(self) -> dict[str, Any]:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._terminate, task)
        try:
            await self.setup()
            assert self.net is not None
            faults = Faults(self.net, self.nodes, self.registers, lambda t: self.say(t, True))
            await self.day(faults)
            return await self.reckon(faults)
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
            await self.teardown()

    def _terminate(self, task: asyncio.Task[Any]) -> None:
        self.terminated = True
        task.cancel()

    async def teardown(self) -> None:
        """Kill the processes first (a node must not outlive its namespace), then delete the bed."""
        procs = [*self.nodes.values(), *([self.console] if self.console else [])]
        await asyncio.gather(*(p.kill() for p in procs), return_exceptions=True)
        await asyncio.gather(*(a.close() for a in self.agents), return_exceptions=True)
        if self.bed is not None:
            try:
                await asyncio.to_thread(self.bed.close)
            except NetBedError as exc:
                self.say(f"teardown: {exc}")
