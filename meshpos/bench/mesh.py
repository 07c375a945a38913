"""``meshpos bench mesh``: receipt propagation and catch-up across a mesh, ours against pycrdt-websocket.

Ours: ``--nodes`` real nodes (``meshpos.node.Node``: SQLite, mTLS websockets on 127.0.0.1, linked with
``add_peer``, no mDNS) in this one process and event loop, every pair linked (a full mesh, as discovery
makes it). Sales are real model sales (open order, two lines, pay by card → receipt) offered open-loop at
``--rate`` for ``--seconds``, spread round-robin over the registers.

* Propagation: from the moment the awaited ``pay()`` returns on the selling node (the payment is committed
  to its SQLite file) until the receipt is in the ``receipts`` map of the ledger document on EVERY other
  node. Each node's replica document is watched with a pycrdt ``Map.observe`` callback, which runs inside
  the transaction that applies the peer's update, so its timestamp is the moment the receipt became
  readable there. (A receipt can become visible on a peer before ``pay()`` resumes on the seller, when
  another task's pump flushed it first; those count as 0 ms.)
* Wire bytes: every message the nodes hand to their links (``Links.send``) is counted by wrapping that
  method for the duration of the phase (see :class:`_LinkMeter`): the sync protocol's payload bytes, every
  message kind (updates, forwards, heartbeats, anti-entropy), counted once per sending node. Websocket
  framing (2–14 B a message) and TLS records are not counted, on either side.
* Catch-up: the first node is stopped; the others sell ``--catchup-receipts`` receipts (closed loop, one
  cashier per register, sale after sale) and are left in sync and quiet; then the stopped node starts again
  from its SQLite file and dials the others: ``catchup_s`` runs from the call to ``start()`` until its
  ledger holds every receipt.
* One process, one event loop: every node's work (and the peer's server and clients) shares one Python
  thread, so the figures are for the whole mesh on one core. ``loop_cpu_ms_per_receipt`` (that thread's
  CPU per receipt; divide by ``nodes`` for one device's share), ``cpu_ms_per_receipt`` (all threads, the
  SQLite writers included) and ``loop_lag_*`` (how late a 10 ms timer fires while sales are offered) show
  whether a slow figure is the protocol or a saturated loop.

The peer: the pycrdt-websocket server (``WebsocketServer``, one ``YRoom`` per document, in memory, no
store) and one pycrdt ``Doc`` per document and register, each synced by a pycrdt ``Provider`` over a plain
websocket (``websockets``, ``max_size=None``, ``proxy=None``): a star. The same number of receipts, as one
receipt-shaped transaction each (``workload.add_receipt``: 10 fields + 3 lines) at the same rate; measured
the same way (``Map.observe`` on every other register's document; bytes counted in the channel adapter,
both directions). Ours runs first, then the peer, in the same process run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pycrdt

from meshpos.bench.venue_setup import catalog_update, make_device, make_venue
from meshpos.bench.workload import add_receipt
from meshpos.config import Config
from meshpos.errors import MeshposError
from meshpos.model.sample import CASHIER
from meshpos.net.links import Links
from meshpos.node import Node

HOST = "127.0.0.1"  # the network rule: loopback only
PRODUCTS = ("espresso", "croissant", "burger", "fries", "lemonade")
TARGETS = {"propagation_p99_ms": 25.0, "catchup_s": 1.0}
WAIT_S = 120.0  # give up waiting for a receipt to show up everywhere after this long


def _progress(message: str) -> None:
    print(f"bench mesh: {message}", file=sys.stderr, flush=True)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _noon_clock() -> Callable[[], float]:
    """Wall time shifted to today's 12:00 UTC, so a run never straddles the 04:00 business-day cutoff."""
    now = time.time()
    offset = now - now % 86_400 + 12 * 3600 - now
    return lambda: time.time() + offset


# --- measuring ------------------------------------------------------------------------------------


class _Visibility:
    """When each receipt id first appeared in each replica's ``receipts`` map (perf_counter seconds)."""

    def __init__(self, replicas: int) -> None:
        self.replicas = replicas
        self.seen: dict[str, dict[int, float]] = {}
        self.complete: set[str] = set()  # seen on every replica
        self.changed = asyncio.Event()

    def watch(self, replica: int, receipts: pycrdt.Map[Any]) -> Callable[[], None]:
        """Observe ``receipts`` of replica number ``replica``; returns the unsubscribe call."""

        def changed(event: Any) -> None:
            now = time.perf_counter()
            for key, change in event.keys.items():
                if change.get("action") == "add":
                    seen = self.seen.setdefault(key, {})
                    seen.setdefault(replica, now)
                    if len(seen) == self.replicas:
                        self.complete.add(key)
                        self.changed.set()

        subscription = receipts.observe(changed)
        return lambda: receipts.unobserve(subscription)

    async def everywhere(self, receipt_ids: list[str], timeout: float, what: str) -> None:
        """Wait until every id in ``receipt_ids`` is on every replica."""
        missing = [r for r in receipt_ids if r not in self.complete]
        deadline = time.perf_counter() + timeout
        while missing:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), deadline - time.perf_counter())
            except TimeoutError:
                raise MeshposError(
                    f"timed out after {timeout:g} s waiting for {what} ({len(missing)} missing)"
                ) from None
            missing = [r for r in missing if r not in self.complete]

    def delay(self, receipt_id: str, origin: int, paid_at: float) -> float:
        seen = self.seen[receipt_id]
        return max(0.0, max(t for r, t in seen.items() if r != origin) - paid_at)


async def _holds(receipts: pycrdt.Map[Any], expected: int, timeout: float, what: str) -> float:
    """Wait until ``receipts`` holds ``expected`` entries; the perf_counter time it first did."""
    done = asyncio.Event()
    at = [time.perf_counter()]

    def changed(_event: Any) -> None:
        if len(receipts) >= expected and not done.is_set():
            at[0] = time.perf_counter()
            done.set()

    subscription = receipts.observe(changed)
    try:
        if len(receipts) >= expected:
            return time.perf_counter()
        await asyncio.wait_for(done.wait(), timeout)
    except TimeoutError:
        raise MeshposError(
            f"timed out after {timeout:g} s waiting for {what} ({len(receipts)} of {expected})"
        ) from None
    finally:
        receipts.unobserve(subscription)
    return at[0]


@dataclass
class _Sale:
    receipt_id: str
    origin: int
    started: float
    paid: float


async def _until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise MeshposError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.01)
    return time.perf_counter() - start


async def _open_loop(
    rate: float, total: int, sell: Callable[[int], Coroutine[Any, Any, _Sale]]
) -> list[_Sale]:
    """Start sale ``k`` at ``k / rate`` seconds, whatever the earlier ones are doing."""
    tasks: list[asyncio.Task[_Sale]] = []
    begin = time.perf_counter()
    for k in range(total):
        delay = begin + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(sell(k)))
        if (k + 1) % max(1, int(rate * 2)) == 0:
            _progress(f"  {k + 1}/{total} sales started")
    return list(await asyncio.gather(*tasks))


def _propagation(sales: list[_Sale], seen: _Visibility) -> dict[str, float | int]:
    delays = [seen.delay(s.receipt_id, s.origin, s.paid) for s in sales]
    first = min(s.started for s in sales)
    last = max(s.started for s in sales)
    return {
        "achieved_rate": round((len(sales) - 1) / (last - first), 1) if last > first else 0.0,
        "propagation_p50_ms": _ms(_percentile(delays, 0.50)),
        "propagation_p99_ms": _ms(_percentile(delays, 0.99)),
        "propagation_max_ms": _ms(max(delays)),
    }


_ENVELOPES = {0x01: "hello", 0x03: "chunk", 0x04: "heartbeat", 0x05: "bye"}
_Y_SYNC = {0: "step1", 1: "step2", 2: "update"}


def _kind(message: bytes) -> str:
    """The kind of one meshpos wire message (the envelope table in ``meshpos.sync._codec``): a doc
    message (0x02) is its document name (a var-string) and then the y-protocols sync sub-type."""
    if message[0] != 0x02:
        return _ENVELOPES.get(message[0], "other")
    size = message[1]  # document names are short: a one-byte var-uint length
    if size >= 0x80 or len(message) < 4 + size:
        return "other"
    if message[2 + size] != 0:
        return "awareness"
    return _Y_SYNC.get(message[3 + size], "other")


class _LinkMeter:
    """Counts what every node in this process hands to ``Links.send`` (bytes and messages).

    ``Links.send`` is the one place a node's outgoing sync messages pass (``Node._flush_links``); the
    wrapper is installed on the class for the bench's lifetime and restored on exit. ``b""`` (close the
    link) is not a message and is not counted.
    """

    def __init__(self) -> None:
        self.bytes = 0
        self.messages = 0
        self.by_kind: Counter[str] = Counter()

    @contextlib.contextmanager
    def installed(self) -> Iterator[_LinkMeter]:
        original = Links.send

        def send(links: Links, key: str, messages: list[bytes]) -> None:
            for message in messages:
                if message:
                    self.bytes += len(message)
                    self.messages += 1
                    self.by_kind[_kind(message)] += len(message)
            original(links, key, messages)

        setattr(Links, "send", send)  # noqa: B010 (mypy forbids assigning to a method)
        try:
            yield self
        finally:
            setattr(Links, "send", original)  # noqa: B010

    def snapshot(self) -> tuple[int, int]:
        return self.bytes, self.messages


class _LoopLag:
    """How late a 10 ms ticker wakes up: how long the one event loop all nodes share is busy at a time."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.samples.append(max(0.0, time.perf_counter() - before - 0.01))

    def __enter__(self) -> _LoopLag:
        self.samples = []
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    def figures(self, prefix: str) -> dict[str, float]:
        return {
            f"{prefix}loop_lag_p99_ms": _ms(_percentile(self.samples, 0.99)),
            f"{prefix}loop_lag_max_ms": _ms(max(self.samples, default=0.0)),
        }


async def _quiet(meter: _LinkMeter, threshold: int, timeout: float = WAIT_S) -> float:
    """Wait until at most ``threshold`` messages are sent in half a second (what is queued has gone
    out); returns the seconds waited."""
    start = time.perf_counter()
    while True:
        before = meter.messages
        await asyncio.sleep(0.5)
        if meter.messages - before <= threshold:
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise MeshposError(f"the mesh was still busy after {timeout:g} s")


# --- ours -----------------------------------------------------------------------------------------


def _receipts_map(node: Node, ledger: str) -> pycrdt.Map[Any]:
    receipts: pycrdt.Map[Any] = node.replica.doc(ledger).get("receipts", type=pycrdt.Map)
    return receipts


async def _sell(node: Node, origin: int, k: int) -> _Sale:
    """One real sale: open an order, two lines, pay the lot by card."""
    started = time.perf_counter()
    order = await node.open_order(CASHIER, table=f"T{k % 20}")
    await node.add_line(CASHIER, order.id, PRODUCTS[k % len(PRODUCTS)], 1 + k % 2)
    await node.add_line(CASHIER, order.id, PRODUCTS[(k + 2) % len(PRODUCTS)], 1)
    paid = await node.pay(CASHIER, order.id, "card")
    at = time.perf_counter()
    if paid.receipt is None:
        raise MeshposError(f"order {order.id} was paid in full but gave no receipt")
    return _Sale(paid.receipt.id, origin, started, at)


async def _link_all(nodes: list[Node], ids: list[str]) -> None:
    """Every pair linked, as discovery would: both sides learn the address, the lower id dials."""
    for i, node in enumerate(nodes):
        for j in range(len(nodes)):
            if j != i:
                node.add_peer(ids[j], HOST, nodes[j].port)
    want = len(nodes) - 1
    await _until(
        lambda: all(len(p := n.status().peers) == want and all(p.values()) for n in nodes),
        30,
        "every node in sync with every other",
    )


@dataclass
class _Mesh:
    configs: list[Config]
    ids: list[str]
    clock: Callable[[], float]
    nodes: list[Node] = field(default_factory=list)

    async def start(self, index: int) -> Node:
        node = Node(self.configs[index], discovery=False, clock=self.clock)
        await node.start()
        return node

    async def stop_all(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                await node.stop()


@contextlib.asynccontextmanager
async def _mesh(folder: Path, count: int, clock: Callable[[], float]) -> AsyncIterator[_Mesh]:
    _progress(f"ours: enrolling {count} registers")
    authority = make_venue(folder)
    catalog = catalog_update()
    ids = [f"R{k + 1:02d}" for k in range(count)]
    configs = [await make_device(authority, folder, i, catalog=catalog) for i in ids]
    mesh = _Mesh(configs, ids, clock)
    try:
        for k in range(count):
            mesh.nodes.append(await mesh.start(k))
        yield mesh
    finally:
        await mesh.stop_all()


async def _ours(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    count, rate, total = args.nodes, args.rate, max(1, round(args.rate * args.seconds))
    clock = _noon_clock()
    meter = _LinkMeter()
    seen = _Visibility(count)
    result: dict[str, Any] = {}
    with meter.installed():
        async with _mesh(folder, count, clock) as mesh:
            nodes = mesh.nodes
            await _link_all(nodes, mesh.ids)
            _progress(f"ours: {count} nodes linked (full mesh, mTLS on {HOST})")
            for node in nodes:
                await node.open_shift(CASHIER, 10_000)
            ledger = f"ledger/{nodes[0].venue.business_date(nodes[0].now_ms())}"
            unwatch = [seen.watch(i, _receipts_map(n, ledger)) for i, n in enumerate(nodes)]

            # warm-up: one sale per register, not measured
            warm = await asyncio.gather(*(_sell(n, i, i) for i, n in enumerate(nodes)))
            await seen.everywhere([s.receipt_id for s in warm], WAIT_S, "the warm-up receipts")

            _progress(f"ours: {total} sales offered at {rate:g}/s over {count} registers")
            bytes0, messages0 = meter.snapshot()
            kinds0 = Counter(meter.by_kind)
            cpu0, loop0 = time.process_time(), time.thread_time()

            async def sell(k: int) -> _Sale:
                return await _sell(nodes[k % count], k % count, k)

            with _LoopLag() as lag:
                sales = await _open_loop(rate, total, sell)
            result.update(lag.figures(""))
            await seen.everywhere([s.receipt_id for s in sales], WAIT_S, "every receipt everywhere")
            # count what is still queued (forwards, repairs) too: until only heartbeats go out
            result["drain_s"] = round(await _quiet(meter, count * (count - 1)), 1)
            bytes1, messages1 = meter.snapshot()
            cpu1, loop1 = time.process_time(), time.thread_time()
            for stop in unwatch:
                stop()
            result.update(_propagation(sales, seen))
            durations = [s.paid - s.started for s in sales]
            result["sale_p50_ms"] = _ms(_percentile(durations, 0.50))
            result["sale_p99_ms"] = _ms(_percentile(durations, 0.99))
            result["wire_bytes_per_receipt"] = round((bytes1 - bytes0) / total, 1)
            result["wire_messages_per_receipt"] = round((messages1 - messages0) / total, 2)
            result["wire_bytes_per_receipt_by_kind"] = {
                kind: round(n / total, 1)
                for kind, n in sorted((meter.by_kind - kinds0).items(), key=lambda kv: -kv[1])
            }
            result["cpu_ms_per_receipt"] = round((cpu1 - cpu0) * 1000 / total, 2)
            result["loop_cpu_ms_per_receipt"] = round((loop1 - loop0) * 1000 / total, 2)
            result.update(await _catch_up(args, mesh, ledger, meter))
            result["link_drops"] = sum(n.counters["protocol_errors"] for n in mesh.nodes)
    return result


async def _catch_up(
    args: argparse.Namespace, mesh: _Mesh, ledger: str, meter: _LinkMeter
) -> dict[str, Any]:
    """Stop the first node, sell the backlog on the others, restart it: how long until it has it all."""
    count, backlog = len(mesh.nodes), int(args.catchup_receipts)
    nodes = mesh.nodes
    online = list(range(1, count))
    before = len(_receipts_map(nodes[0], ledger))  # every node holds them all by now
    expected = before + backlog
    _progress(f"ours: {mesh.ids[0]} stopped; the other {count - 1} sell {backlog} receipts")
    await nodes[0].stop()
    done = 0

    async def cashier(index: int, sales: int) -> None:  # one per register, sale after sale
        nonlocal done
        for _ in range(sales):
            await _sell(nodes[index], index, done)
            done += 1
            if done % 1000 == 0:
                _progress(f"  {done}/{backlog} sold")

    shares = [backlog // len(online) + (k < backlog % len(online)) for k in range(len(online))]
    begin = time.perf_counter()
    await asyncio.gather(*(cashier(i, n) for i, n in zip(online, shares, strict=True)))
    written = time.perf_counter() - begin
    for i in online:
        await _holds(_receipts_map(nodes[i], ledger), expected, WAIT_S, f"{mesh.ids[i]}'s backlog")
    settled = time.perf_counter() - begin - written
    await _quiet(meter, count * (count - 1))  # nothing left in flight when it comes back
    _progress(
        f"ours: {backlog} sold in {written:.1f} s (+{settled:.1f} s until the others agreed); "
        f"restarting {mesh.ids[0]}"
    )
    restarted = Node(mesh.configs[0], discovery=False, clock=mesh.clock)
    nodes[0] = restarted
    bytes0 = meter.bytes
    begin = time.perf_counter()
    await restarted.start()
    started = time.perf_counter()
    receipts = _receipts_map(restarted, ledger)
    loaded = len(receipts)
    for j in online:  # it dials (lowest id: at once); the others learn its new port too
        restarted.add_peer(mesh.ids[j], HOST, nodes[j].port)
        nodes[j].add_peer(mesh.ids[0], HOST, restarted.port)
    finished = await _holds(receipts, expected, WAIT_S, f"{mesh.ids[0]} to catch up")
    sent = meter.bytes - bytes0
    return {
        "catchup_receipts": backlog,
        "catchup_s": round(finished - begin, 3),
        "catchup_start_s": round(started - begin, 3),
        "catchup_loaded_receipts": loaded,
        "catchup_wire_mb": round(sent / 1e6, 2),
        "catchup_backlog_write_s": round(written, 2),
        "catchup_backlog_settle_s": round(settled, 2),
    }


# --- the peer: pycrdt-websocket ---------------------------------------------------------------------


def _peer_modules() -> tuple[Any, Any, Any]:
    try:
        import websockets.asyncio.client as ws_client
        import websockets.asyncio.server as ws_server
        from pycrdt.websocket import WebsocketServer
    except ImportError as exc:
        raise MeshposError(
            "the peer, pycrdt-websocket, is not installed: pip install -e '.[bench]'"
        ) from exc
    return WebsocketServer, ws_server, ws_client


class _Channel:
    """A websockets connection as a pycrdt ``Channel``; counts the bytes it sends."""

    def __init__(self, conn: Any, path: str, meter: _LinkMeter) -> None:
        self._conn = conn
        self._path = path
        self._meter = meter

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> _Channel:
        return self

    async def __anext__(self) -> bytes:
        from websockets.exceptions import ConnectionClosed

        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def send(self, message: bytes) -> None:
        from websockets.exceptions import ConnectionClosed

        self._meter.bytes += len(message)
        self._meter.messages += 1
        with contextlib.suppress(ConnectionClosed):
            await self._conn.send(message)

    async def recv(self) -> bytes:
        data = await self._conn.recv()
        return bytes(data) if not isinstance(data, str) else data.encode()


class _Register:
    """One register on the peer: a Doc per document, each synced by a Provider over its own websocket.

    The providers run in a task of their own: anyio task groups must be left in the task, and the order,
    they were entered in, and registers come and go independently.
    """

    def __init__(self, names: list[str]) -> None:
        self.docs: dict[str, pycrdt.Doc[Any]] = {name: pycrdt.Doc() for name in names}
        self.count = 0
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def connect(self, port: int, meter: _LinkMeter, ws_client: Any) -> None:
        synced: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(port, meter, ws_client, synced))
        await synced

    async def _run(
        self, port: int, meter: _LinkMeter, ws_client: Any, synced: asyncio.Future[None]
    ) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                providers = []
                for name, doc in self.docs.items():
                    path = f"/{name}"
                    conn = await stack.enter_async_context(
                        ws_client.connect(f"ws://{HOST}:{port}{path}", max_size=None, proxy=None)
                    )
                    provider = pycrdt.Provider(doc, _Channel(conn, path, meter))
                    providers.append(await stack.enter_async_context(provider))
                for provider in providers:
                    await provider.synced.wait()
                synced.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not synced.done():
                synced.set_exception(exc)
            raise

    async def disconnect(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._stop.set()
            await task


async def _peer(args: argparse.Namespace) -> dict[str, Any]:
    websocket_server_class, ws_server, ws_client = _peer_modules()
    count, rate, total = args.nodes, args.rate, max(1, round(args.rate * args.seconds))
    backlog = int(args.catchup_receipts)
    date = time.strftime("%Y-%m-%d", time.gmtime(_noon_clock()()))
    ledger = f"ledger/{date}"
    names = ["catalog", "stoplist", "denylist", ledger, f"kitchen/{date}"]  # what our nodes hold
    meter = _LinkMeter()
    seen = _Visibility(count)
    server = websocket_server_class(auto_clean_rooms=False)

    async def serve(conn: Any) -> None:
        await server.serve(_Channel(conn, conn.request.path, meter))

    registers = [_Register(names) for _ in range(count)]
    result: dict[str, Any] = {}
    async with server, ws_server.serve(serve, HOST, 0, max_size=None) as listening:
        port = listening.sockets[0].getsockname()[1]
        try:
            for register in registers:
                await register.connect(port, meter, ws_client)
            _progress(f"peer: {count} registers connected to one pycrdt-websocket server")
            # the console's catalog, as on our side (pushed once by the first register)
            registers[0].docs["catalog"].apply_update(catalog_update())

            def receipts_of(k: int) -> pycrdt.Map[Any]:
                receipts: pycrdt.Map[Any] = (
                    registers[k].docs[ledger].get("receipts", type=pycrdt.Map)
                )
                return receipts

            unwatch = [seen.watch(k, receipts_of(k)) for k in range(count)]

            def write(origin: int) -> _Sale:
                register = registers[origin]
                register.count += 1
                started = time.perf_counter()
                receipt_id = add_receipt(
                    register.docs[ledger], register.count, f"R{origin + 1:02d}"
                )
                return _Sale(receipt_id, origin, started, time.perf_counter())

            warm = [write(k) for k in range(count)]
            await seen.everywhere([s.receipt_id for s in warm], WAIT_S, "the warm-up receipts")
            _progress(f"peer: {total} receipts offered at {rate:g}/s over {count} registers")
            bytes0, _ = meter.snapshot()
            cpu0, loop0 = time.process_time(), time.thread_time()

            async def sell(k: int) -> _Sale:
                return write(k % count)

            with _LoopLag() as lag:
                sales = await _open_loop(rate, total, sell)
            await seen.everywhere([s.receipt_id for s in sales], WAIT_S, "every peer receipt")
            await _quiet(meter, count)
            bytes1, _ = meter.snapshot()
            cpu1, loop1 = time.process_time(), time.thread_time()
            for stop in unwatch:
                stop()
            result = {f"peer_{k}": v for k, v in _propagation(sales, seen).items()}
            result.update(lag.figures("peer_"))
            result["peer_wire_bytes_per_receipt"] = round((bytes1 - bytes0) / total, 1)
            result["peer_cpu_ms_per_receipt"] = round((cpu1 - cpu0) * 1000 / total, 2)
            result["peer_loop_cpu_ms_per_receipt"] = round((loop1 - loop0) * 1000 / total, 2)

            # catch-up: register 0 goes away, the others write the backlog, register 0 comes back
            _progress(f"peer: register 0 disconnected; the others write {backlog} receipts")
            await registers[0].disconnect()
            expected = len(receipts_of(0)) + backlog  # register 0 held them all
            for k in range(backlog):
                write(1 + k % (count - 1))
                if k % 50 == 49:
                    await asyncio.sleep(0)  # let the providers send
            for k in range(1, count):
                await _holds(receipts_of(k), expected, WAIT_S, f"peer register {k}'s backlog")
            bytes0 = meter.bytes
            begin = time.perf_counter()
            await registers[0].connect(port, meter, ws_client)
            finished = await _holds(receipts_of(0), expected, WAIT_S, "register 0 to catch up")
            result["peer_catchup_s"] = round(finished - begin, 3)
            result["peer_catchup_wire_mb"] = round((meter.bytes - bytes0) / 1e6, 2)
        finally:
            for register in registers:
                with contextlib.suppress(Exception):
                    await register.disconnect()
    return result


# --- the run ----------------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pycrdt": version("pycrdt"),
        "pycrdt_websocket": version("pycrdt-websocket"),
        "websockets": version("websockets"),
    }


async def _bench(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    ours = await _ours(args, folder)
    peer = await _peer(args) if not args.no_peer else {}
    total = max(1, round(args.rate * args.seconds))
    result: dict[str, Any] = {
        "nodes": args.nodes,
        "receipts": total,
        "rate": args.rate,
        "seconds": args.seconds,
        **ours,
        **peer,
    }
    if peer:
        p99, peer_p99 = result["propagation_p99_ms"], result["peer_propagation_p99_ms"]
        result["ratio_vs_peer"] = float(f"{peer_p99 / p99:.3g}") if p99 > 0 else None
    result["targets"] = dict(TARGETS)
    result["targets_met"] = {k: result[k] <= v for k, v in TARGETS.items()}
    result["method"] = {
        "ours": f"{args.nodes} meshpos nodes, full mesh of mTLS websockets, SQLite WAL "
        "synchronous=FULL; sale = open order + 2 lines + card payment",
        "peer": "pycrdt-websocket WebsocketServer (in-memory YRooms, no store), one room per "
        "document, a pycrdt Provider per register and document over plain websockets; "
        "sale = one receipt-shaped transaction",
        "propagation": "pay() returned (ours: committed) -> receipt in the ledger's receipts map "
        "on every other replica (Map.observe)",
        "wire_bytes": "sync payload bytes handed to the transport, all message kinds, no "
        "websocket framing or TLS",
    }
    result["machine"] = _machine()
    return result


def _table(result: dict[str, Any]) -> str:
    rows = [
        ("", "meshpos", "pycrdt-websocket"),
        ("propagation p50 ms", result["propagation_p50_ms"], result.get("peer_propagation_p50_ms")),
        ("propagation p99 ms", result["propagation_p99_ms"], result.get("peer_propagation_p99_ms")),
        (
            "wire bytes/receipt",
            result["wire_bytes_per_receipt"],
            result.get("peer_wire_bytes_per_receipt"),
        ),
        ("catch-up s", result["catchup_s"], result.get("peer_catchup_s")),
    ]
    lines = [f"{a:<22}{b!s:>12}{c!s:>18}" for a, b, c in rows]
    lines.append(
        f"{result['nodes']} nodes, {result['receipts']} receipts at {result['rate']}/s; "
        f"peer p99 / ours p99: {result.get('ratio_vs_peer')}x"
    )
    return "\n".join(lines)


def add_mesh_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--nodes", type=int, default=6, help="registers in the mesh (default 6)")
    parser.add_argument(
        "--rate", type=float, default=100.0, help="offered receipts/s, all registers together"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the propagation run")
    parser.add_argument(
        "--catchup-receipts",
        type=int,
        default=5000,
        help="receipts written while one node is stopped (default 5000)",
    )
    parser.add_argument(
        "--no-peer", action="store_true", help="skip the pycrdt-websocket comparison"
    )
    parser.add_argument(
        "--dir", default=None, help="directory for the nodes' files (default: a temp dir)"
    )


def run_mesh_bench(args: argparse.Namespace) -> int:
    if args.nodes < 2 or args.rate <= 0 or args.seconds <= 0 or args.catchup_receipts < 1:
        raise MeshposError(
            "--nodes must be at least 2; --rate, --seconds, --catchup-receipts positive"
        )
    if args.dir is not None:
        folder = Path(args.dir)
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            raise MeshposError(f"{folder} is not empty")
        result = asyncio.run(_bench(args, folder))
    else:
        with tempfile.TemporaryDirectory(prefix="meshpos-bench-mesh-") as tmp:
            result = asyncio.run(_bench(args, Path(tmp)))
    print(json.dumps(result, indent=2) if args.json else _table(result))
    return 0
