"""One register of ``meshpos bench mesh`` in a process of its own, driven by the bench over stdin/stdout.

A venue's registers are separate devices, each with its own CPU; running every node of the bench in one
event loop measured one core doing six devices' work. So each register (ours: a ``meshpos.node.Node``;
the peer: a pycrdt ``Provider`` register, or the pycrdt-websocket server) is a process, and the bench
sends it one JSON command per line and reads one JSON reply per line. Times are ``time.perf_counter()``
(CLOCK_MONOTONIC: one clock for every process on the machine), so the bench compares a sale's "paid" in
one process with "visible" in another directly.

Commands (``{"do": NAME, ...}``): ``start`` (reply: port), ``link`` (peers; waits until in sync unless
``wait`` is false), ``shift``, ``watch`` (start recording when each receipt id first appears), ``sell``
(open loop: sale ``k`` at perf_counter ``at``), ``backlog`` (closed loop, ``count`` sales), ``holds``
(wait until the ledger holds ``count`` receipts), ``quiet``, ``stats``, ``seen``, ``disconnect`` and
``connect`` (the peer's catch-up: it keeps its documents in memory), ``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pycrdt

from meshpos.bench.mesh_meter import (
    LOOP_ENV,
    GcPauses,
    LinkMeter,
    LoopLag,
    Profile,
    SlowCallbacks,
    metered_channel,
    percentile,
)
from meshpos.bench.mesh_watch import WAIT_S, Watch, holds
from meshpos.bench.owner import die_with_owner
from meshpos.bench.receive_counts import Counts
from meshpos.bench.tail_probe import TailProbe
from meshpos.bench.workload import add_receipt
from meshpos.config import load_config
from meshpos.errors import MeshposError
from meshpos.model.documents import CATALOG, ledger_name
from meshpos.model.sample import CASHIER
from meshpos.node import Node
from meshpos.node_adapters import make_node

HOST = "127.0.0.1"  # the network rule: loopback only
PRODUCTS = ("espresso", "croissant", "burger", "fries", "lemonade")


class _Register:
    """What both sides share: watching, open-loop and closed-loop selling, the meter."""

    def __init__(self) -> None:
        self.meter = LinkMeter()
        self.profile = Profile()
        self.catchup_profile = Profile("catchup-")
        self.watch = Watch()
        self.ledger = ""
        self._probe: LoopLag | None = None  # the loop-lag probe alone, while idle (``stats``)

    def receipts(self) -> pycrdt.Map[Any]:
        raise NotImplementedError

    async def sell_one(self, k: int) -> tuple[str, float]:
        raise NotImplementedError

    async def command(self, do: str, msg: dict[str, Any]) -> dict[str, Any]:
        if do == "watch":
            self.ledger = msg["ledger"]
            self.watch.start(self.receipts(), shared=isinstance(self, _Ours))
            return {}
        if do == "sell":
            self.profile.start()
            return await self._sell_open_loop([(int(k), float(at)) for k, at in msg["plan"]])
        if do == "backlog":
            for k in range(int(msg["count"])):
                await self.sell_one(int(msg.get("first", 0)) + k)
            return {}
        if do == "holds":
            at = await holds(self.receipts, int(msg["count"]))
            self.catchup_profile.stop()  # (a catch-up's, if its start was profiled; else nothing)
            return {"at": at, "held": len(self.receipts())}
        if do == "count":
            return {"held": len(self.receipts())}
        if do == "quiet":
            self.profile.stop()
            return {"waited_s": await self.meter.quiet(int(msg["threshold"]), WAIT_S)}
        if do == "stats":
            if msg.get("profile_idle") is True:  # ``measure_idle``: the idle phase's profile too
                self.profile.start()
            elif msg.get("profile_idle") is False:
                self.profile.stop()
            if msg.get("probe") is True:  # ``measure_idle``: what the sale phase's probe costs
                self._probe = LoopLag().__enter__()
            elif msg.get("probe") is False and self._probe is not None:
                self._probe.__exit__()
                self._probe = None
            return {
                "bytes": self.meter.bytes,
                "messages": self.meter.messages,
                "by_kind": dict(self.meter.by_kind),
                "count_by_kind": dict(self.meter.count_by_kind),
                "cpu_s": time.process_time(),
                "loop_cpu_s": time.thread_time(),
            }
        if do == "seen":
            probe = self.watch.probe
            sent, handled = (probe.sent, self.watch.handled) if probe is not None else ({}, {})
            return {"seen": self.watch.seen, "sent": sent, "handled": handled}
        raise MeshposError(f"unknown command {do!r}")

    async def _sell_open_loop(self, plan: list[tuple[int, float]]) -> dict[str, Any]:
        async def one(k: int, at: float) -> list[Any]:
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            started = time.perf_counter()
            receipt_id, paid = await self.sell_one(k)
            return [receipt_id, started, paid]

        slow = SlowCallbacks() if os.environ.get(LOOP_ENV) else None
        with LoopLag() as lag, GcPauses() as collections, slow or contextlib.nullcontext():
            sales = await asyncio.gather(*(one(k, at) for k, at in plan))
        return {
            "sales": sales,
            "lag_p99_ms": percentile(lag.samples, 0.99) * 1000,
            "lag_max_ms": max(lag.samples, default=0.0) * 1000,
            **collections.figures(),
            **(slow.figures() if slow is not None else {}),
        }


async def _linked(node: Node, offered: int) -> None:
    """Wait until this node holds a link with every peer it was given, each in sync; or, when its
    topology links fewer (bounded links), until its links stayed the same, all in sync, for a second.
    The warm-up sale then proves every node converged, however the mesh is shaped."""
    deadline = time.perf_counter() + 30 + offered
    last: set[str] = set()
    steady = time.perf_counter()
    while True:
        peers = node.status().peers
        if set(peers) != last or not all(peers.values()):
            last, steady = set(peers), time.perf_counter()
        elif peers and (len(peers) >= offered or time.perf_counter() - steady >= 1.0):
            return
        if time.perf_counter() > deadline:
            raise MeshposError(
                f"linked with {len(peers)} of {offered} peers, {sum(peers.values())} in sync, "
                f"after {30 + offered} s"
            )
        await asyncio.sleep(0.01)


class _Ours(_Register):
    def __init__(self, config_path: Path, clock_offset: float) -> None:
        super().__init__()
        self.config = load_config(config_path, env={})
        self.clock = lambda: time.time() + clock_offset
        if os.environ.get(LOOP_ENV):  # (before any link: TLS binds its protocol's read at connect)
            self.watch.probe = TailProbe().__enter__()  # (until the process ends)
        self.node: Node | None = None
        self.meter.install()
        self.taps: list[float] = []
        self.commits: list[float] = []
        self.counts = Counts()

    def receipts(self) -> pycrdt.Map[Any]:
        assert self.node is not None
        found: pycrdt.Map[Any] = self.node.replica.doc(self.ledger).get("receipts", type=pycrdt.Map)
        return found

    def _store(self) -> object:
        """The node's ``SqliteStore`` (``engine.stores.StoreDocuments``), or None."""
        documents = self.node.engine.store if self.node is not None else None
        return getattr(documents, "store", None)

    def _fsyncs(self) -> int:
        """The store's fsync'd transactions and its syncs of unsynced ones (``store.base.StoreStats``)."""
        store: Any = self._store()
        if store is None:
            return 0
        stats = store.stats
        return int(stats.transactions - stats.unsynced_transactions + stats.syncs)

    async def sell_one(self, k: int) -> tuple[str, float]:
        """One real sale: open an order, two lines, pay the lot by card (each await: committed)."""
        node = self.node
        assert node is not None
        if self.watch.probe is not None:
            self.watch.probe.sale.set(k)  # (this sale's task: its taps are told apart)
        t0 = time.perf_counter()
        order = await node.open_order(CASHIER, table=f"T{k % 20}")
        t1 = time.perf_counter()
        await node.add_line(CASHIER, order.id, PRODUCTS[k % len(PRODUCTS)], 1 + k % 2)
        t2 = time.perf_counter()
        await node.add_line(CASHIER, order.id, PRODUCTS[(k + 2) % len(PRODUCTS)], 1)
        t3 = time.perf_counter()
        paid = await node.pay(CASHIER, order.id, "card")
        at = time.perf_counter()
        self.taps.extend((t1 - t0, t2 - t1, t3 - t2, at - t3))
        if paid.receipt is None:
            raise MeshposError(f"order {order.id} was paid in full but gave no receipt")
        if self.watch.probe is not None:
            self.watch.probe.paid(paid.receipt.id)
        return paid.receipt.id, at

    async def command(self, do: str, msg: dict[str, Any]) -> dict[str, Any]:
        if do == "start":
            if msg.get("profile") is True:  # the catch-up's start, until it ``holds`` every receipt
                self.catchup_profile.start()
            begin = time.perf_counter()
            self.node = make_node(self.config, discovery=False, clock=self.clock)
            await self.node.start()
            started = time.perf_counter()
            histogram = self.node.metrics.commit_seconds
            observe = histogram.observe

            def timed(seconds: float, exemplar: dict[str, str] | None = None) -> None:
                self.commits.append(seconds)  # each commit's time, for the sale phase's figures
                observe(seconds, exemplar)

            setattr(histogram, "observe", timed)  # noqa: B010 (mypy forbids assigning to a method)
            self.ledger = ledger_name(self.node.venue.business_date(self.node.now_ms()))
            return {
                "port": self.node.port,
                "begin": begin,
                "started": started,
                "ledger": self.ledger,
            }
        if do == "link":
            node = self.node
            assert node is not None
            for peer, host, port in msg["peers"]:
                node.add_peer(peer, host, int(port))
            if msg.get("wait", True):
                await _linked(node, len(msg["peers"]))
            return {}
        if do == "sell":
            self.taps, self.commits = [], []
            if (probe := self.watch.probe) is not None:
                probe.taps, probe.rounds, probe.writes = [], [], 0
            reply = await super().command(do, msg)
            reply.update(probe.figures(reply["sales"]) if probe is not None else {})
            for name, samples in (("tap", self.taps), ("commit", self.commits)):
                for q in (0.5, 0.99):
                    reply[f"{name}_p{round(q * 100)}_ms"] = round(percentile(samples, q) * 1000, 2)
                reply[f"{name}_max_ms"] = round(max(samples, default=0.0) * 1000, 2)
            return reply
        if do == "shift":
            assert self.node is not None
            await self.node.open_shift(CASHIER, 10_000)
            return {}
        if do == "stop":
            if self.node is not None:
                await self.node.stop()
            return {"protocol_errors": self.node.counters["protocol_errors"] if self.node else 0}
        if (
            do == "counts"
        ):  # (``receive_node``: ``install`` first, then a snapshot after each phase)
            if msg.get("install"):
                self.counts.install(self._store())
                self.counts.time_ticker_hooks(self.node.engine._ticker if self.node else None)
            return self.counts.snapshot(self.node.counters if self.node is not None else {})
        if do == "stats":  # and the links this node holds now (sessions past the hello)
            links = len(self.node.status().peers) if self.node is not None else 0
            commits = self.node.counters["commits"] if self.node is not None else 0
            return {
                **await super().command(do, msg),
                "links": links,
                "commits": commits,
                "fsyncs": self._fsyncs(),
            }
        return await super().command(do, msg)


class _PeerRegister(_Register):
    """A pycrdt-websocket register: one Doc and Provider per document, over plain websockets."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.docs: dict[str, pycrdt.Doc[Any]] = {}
        self.count = 0
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.port = 0

    def receipts(self) -> pycrdt.Map[Any]:
        found: pycrdt.Map[Any] = self.docs[self.ledger].get("receipts", type=pycrdt.Map)
        return found

    async def sell_one(self, k: int) -> tuple[str, float]:
        self.count += 1
        receipt_id = add_receipt(self.docs[self.ledger], self.count, self.name)
        await asyncio.sleep(0)  # let the providers send, as a register app's event loop would
        return receipt_id, time.perf_counter()

    async def command(self, do: str, msg: dict[str, Any]) -> dict[str, Any]:
        if do == "connect":
            if not self.docs:
                self.docs = {name: pycrdt.Doc() for name in msg["documents"]}
                self.ledger = msg["ledger"]
            if msg.get("catalog"):
                self.docs[CATALOG].apply_update(bytes.fromhex(msg["catalog"]))
            begin = time.perf_counter()
            await self._connect(int(msg["port"]))
            return {"begin": begin}
        if do == "stats":  # a websocket (a provider) per document while connected
            return {**await super().command(do, msg), "links": len(self.docs) if self._task else 0}
        if do == "disconnect" or do == "stop":
            task, self._task = self._task, None
            if task is not None:
                self._stop.set()
                await task
            return {"protocol_errors": 0}
        return await super().command(do, msg)

    async def _connect(self, port: int) -> None:
        synced: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(port, synced))
        await synced

    async def _run(self, port: int, synced: asyncio.Future[None]) -> None:
        """anyio task groups must be left in the task they were entered in: providers live here."""
        import websockets.asyncio.client as ws_client

        try:
            async with contextlib.AsyncExitStack() as stack:
                providers = []
                for name, doc in self.docs.items():
                    conn = await stack.enter_async_context(
                        ws_client.connect(f"ws://{HOST}:{port}/{name}", max_size=None, proxy=None)
                    )
                    channel = metered_channel(conn, f"/{name}", self.meter)
                    providers.append(await stack.enter_async_context(pycrdt.Provider(doc, channel)))
                for provider in providers:
                    await provider.synced.wait()
                synced.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not synced.done():
                synced.set_exception(exc)
            raise


async def _serve_peer_server(reply: Callable[[dict[str, Any]], None], commands: Any) -> None:
    """The pycrdt-websocket server (one in-memory room per document) until ``stop``."""
    import websockets.asyncio.server as ws_server
    from pycrdt.websocket import WebsocketServer

    meter = LinkMeter()
    server = WebsocketServer(auto_clean_rooms=False)

    async def serve(conn: Any) -> None:
        await server.serve(metered_channel(conn, conn.request.path, meter))

    async with server, ws_server.serve(serve, HOST, 0, max_size=None) as listening:
        reply({"port": listening.sockets[0].getsockname()[1]})
        async for msg in commands:
            if msg["do"] == "stop":
                reply({})
                return
            if msg["do"] == "stats":
                reply(
                    {
                        "bytes": meter.bytes,
                        "messages": meter.messages,
                        "cpu_s": time.process_time(),
                        "loop_cpu_s": time.thread_time(),
                        "by_kind": {},
                    }
                )
            else:
                reply({"error": f"the server takes no {msg['do']!r}"})


async def _lines() -> Any:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        yield json.loads(line)


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _main(argv: list[str]) -> None:
    kind = argv[0]
    commands = _lines()
    if kind == "server":
        await _serve_peer_server(_reply, commands)
        return
    register: _Register = (
        _Ours(Path(argv[1]), float(argv[2])) if kind == "ours" else _PeerRegister(argv[1])
    )
    _reply({"ready": True})
    async for msg in commands:
        try:
            answer = await register.command(msg["do"], msg)
        except MeshposError as exc:
            _reply({"error": str(exc)})
            continue
        _reply(answer)
        if msg["do"] == "stop":
            return


def main() -> None:
    die_with_owner()
    run: Coroutine[Any, Any, None] = _main(sys.argv[1:])
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        asyncio.run(run)


if __name__ == "__main__":
    main()
