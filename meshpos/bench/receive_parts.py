"""What one received receipt costs a register, decode to committed, through its engine:
``python -m meshpos.bench.receive_parts [--sales N] [--peers P] [--json]``.

``mesh_parts.receive_us_per_update`` is the synchronizer's part of a received update alone. Here a
register's :class:`~meshpos.engine.Engine` (its model on the replica, ``P`` other linked peers to
forward to, a store that keeps nothing; with ``--status``, the status's tally of the day) takes each
sale of a day ``--sales`` long as a node takes it: one batched websocket message of the updates the seller's synchronizer sends
for the sale (each tap written through the seller engine's own write path, the order and its lines
waiting, the payment not: ``sync/_lingering.py``), then the commit its interval starts (0 here: due
on the next loop turn), the forward and the publish. ``updates_per_receipt`` counts those updates. What is left out: TLS, websocket framing, the socket,
the disk and the ticker's rounds (``meshpos bench mesh`` has them all). (receiver, the twenty-second
session: the tally that checks the day is counted once the day is in, no longer watching the measured
half: a tally now counts a sale as it arrives, which ``--status`` measures as a node's status does.)

``receive_us_per_receipt`` is CPU time (``time.thread_time``) per received sale over the second half
of the day; ``rounds_per_receipt`` counts the engine's pump drains per sale (deterministic).

``--status K`` (the twenty-second session, part ``receiver``) adds the node's status service
(:class:`~meshpos.register.status.StatusService`, no console, no relay) and runs its ticker hooks as a
round does (``publish_owed``, the pump, ``publish_indicator``) after every K-th received sale (the
receiver with a shift of its own open): K = 10 is a node's ticker at its 10 rounds a second while 100
sales a second arrive. What a receiver pays for its
indicator, the tallies' counts of the new records and the shift check, measured without the sockets.

``--mesh N`` adds a whole mesh in this process: N registers' engines linked pairwise through lists,
the registers selling in turn, every list handed over until quiet after each sale.
``mesh_cpu_ms_per_receipt`` is every engine's CPU per receipt together (the sale, its forwarding,
every receiver; no TLS, sockets, disk nor status: ``meshpos bench mesh`` has them), and
``mesh_update_messages_per_receipt`` the update messages sent per receipt (deterministic).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, cast

from meshpos.bench.mesh_parts import NOW, PRODUCTS, VENUE
from meshpos.bench.report import print_report
from meshpos.bench.wire_feed import wire_feed
from meshpos.config import MARK_WAIT_MS, Config
from meshpos.engine import Engine
from meshpos.model import Venue
from meshpos.model.documents import CATALOG, ledger_name
from meshpos.model.sample import CASHIER, sample_catalog
from meshpos.model.tally import LedgerTally
from meshpos.net.port import LinkPeer
from meshpos.register.numbering import let_marks_wait
from meshpos.register.status import StatusService
from meshpos.relay.service import RelayService
from meshpos.sync import DocumentChanged, SyncConfig, Synchronizer
from meshpos.sync._codec import batch, decode, encode, messages_in
from meshpos.sync._features import FEATURES
from meshpos.sync._messages import SyncUpdate
from meshpos.sync._updates import held_clocks


class _NullStore:
    """A store that keeps nothing and never waits (the disk is not what this measures)."""

    def __init__(self) -> None:
        self.commits = 0
        self.committed = asyncio.Event()

    async def append(
        self,
        updates: Sequence[tuple[str, bytes]],
        meta: Mapping[str, str] | None,
        *,
        fsync: bool = True,
    ) -> None:
        self.commits += 1
        self.committed.set()

    async def sync(self) -> None:
        return None

    async def load(self) -> dict[str, bytes]:
        return {}

    async def drop(self, name: str) -> None:
        return None

    async def close(
        self, name: str, state_vector: bytes, deletions: bytes, keys: Iterable[str]
    ) -> None:
        return None

    async def closed(self) -> dict[str, tuple[bytes, bytes]]:
        return {}

    async def find_closed(self, key: str) -> str | None:
        return None

    async def reopen(self, name: str) -> bytes | None:
        return None


async def _sales(
    sales: int, mark_wait_ms: float
) -> tuple[int, list[tuple[str, bytes]], list[list[tuple[str, bytes]]]]:
    """The seller's client id, its shift (what the day starts from) and each sale's updates merged
    per document, as its engine's synchronizer reports them (the bytes a node sends)."""
    seller = Engine(
        _NullStore(),
        venue=VENUE,
        node_id="R1",
        role="register",
        sync_config=SyncConfig(),
    )
    await seller.open()
    venue = Venue(seller.replica, device="R1", role="register")
    let_marks_wait(venue, seller, mark_wait_ms)
    quiet = logging.getLogger("meshpos.sync")
    quiet.disabled = (
        True  # (a register's catalog write is refused and logged: this one is the bench's)
    )
    try:
        sample_catalog(venue.catalog, pin_hash="x")
    finally:
        quiet.disabled = False
    venue.open_shift_now(CASHIER, 10_000, NOW)

    def changes() -> list[tuple[str, bytes]]:
        return [
            (e.doc, e.update)
            for e in seller.sync.events_received()
            if isinstance(e, DocumentChanged) and e.doc != CATALOG
        ]

    before = changes()
    sent: list[tuple[str, bytes]] = []  # what the seller's synchronizer sends on, in order
    setattr(  # noqa: B010 (the seller has no sessions: its forward is where a sale's updates leave)
        seller.sync, "_forward", lambda name, update, origin: sent.append((name, update))
    )
    out = []
    for k in range(sales):
        for tap, wait in _taps(venue, k):
            seller._change(tap, LINGER_MS if wait else 0)  # (the engine's write, as a node's)
        changes()
        out.append([(name, update) for name, update in sent if name != CATALOG])
        sent.clear()
    return seller.sync.client_id, before, out


LINGER_MS = 10_000.0  # (a tap waits for the payment: never for its deadline here)


def _taps(venue: Venue, k: int) -> list[tuple[Callable[[], object], bool]]:
    """Sale ``k`` of ``mesh_parts._sell`` as a node writes it (``register/operations``), tap by
    tap: (the change, whether it may wait). The order and its lines may, the payment not."""
    order: list[Any] = []

    def line(product: str, quantity: int) -> Callable[[], object]:
        return lambda: venue.add_line(CASHIER, order[0].id, product, quantity, NOW + k)

    return [
        (lambda: order.append(venue.open_order(CASHIER, NOW + k, table=f"T{k % 20}")), True),
        (line(PRODUCTS[k % len(PRODUCTS)], 1 + k % 2), True),
        (line(PRODUCTS[(k + 2) % len(PRODUCTS)], 1), True),
        (lambda: venue.pay(CASHIER, order[0].id, "card", NOW + k), False),
    ]


async def _turns(n: int = 8) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


class _NoRelay:
    """What the status reads of a relay that has no console (a venue without one)."""

    uplink = False
    console_skew_s: float | None = None

    def upload_progress(self) -> dict[str, int]:
        return {}


async def _status_round(engine: Engine, venue: Venue) -> Callable[[], Awaitable[None]]:
    """A status service on ``engine`` and one ticker round of its hooks (``node.py``'s order); the
    receiving register has a shift of its own open, as a register in service has (the status's
    shift check reads it every round)."""
    quiet = logging.getLogger("meshpos.sync")
    quiet.disabled = True  # (its own catalog, as ``_sales`` makes the seller's)
    try:
        await engine.write(partial(sample_catalog, venue.catalog, pin_hash="x"))
    finally:
        quiet.disabled = False
    await engine.write(partial(venue.open_shift_now, CASHIER, 10_000, NOW))
    status = StatusService(
        engine,
        venue,
        cast(RelayService, _NoRelay()),
        Config(node_id="R2"),
        Counter(),
        dict,
    )

    async def round_() -> None:
        status.publish_owed()
        await engine.pump()
        status.publish_indicator()

    return round_


async def _receive(
    sales: int,
    peers: int,
    profile: str = "",
    mark_wait_ms: float = MARK_WAIT_MS,
    status_every: int = 0,
    wire: bool = False,
) -> tuple[float, float, int, float]:
    seller_id, before, sold = await _sales(sales, mark_wait_ms)
    store = _NullStore()
    b = Engine(
        store,
        venue=VENUE,
        node_id="R2",
        role="register",
        sync_config=SyncConfig(),
        received_commit_interval=0.0,
    )
    await b.open()
    venue = Venue(b.replica, device="R2", role="register")
    sent: dict[str, list[bytes]] = {}
    others: dict[str, Synchronizer] = {}
    for n in range(peers + 1):
        node = "R1" if n == 0 else f"R{n + 2}"
        sync = Synchronizer(
            venue=VENUE, node_id=node, role="register", client_id=seller_id if n == 0 else 3000 + n
        )
        sync.tick(0.0)
        sync.connect("R2", features=FEATURES)
        others[node] = sync
        box = sent.setdefault(node, [])
        b.link_opened(node, LinkPeer(node, "register", VENUE, features=FEATURES), box.extend)
    for _ in range(10):  # the hellos and the first exchange
        for node, sync in others.items():
            out = [d for d in sync.data_to_send("R2") if d]
            if out:
                await b.link_messages(node, out)
            for data in sent[node]:
                if data:
                    sync.receive_data("R2", data)
            sent[node].clear()
        await b.pump()
        await _turns()
    seller = others["R1"]
    for name, update in before:
        if name != CATALOG:
            await b.link_messages("R1", [encode(SyncUpdate(name, update))])
    await b.pump()
    await _turns()
    status_round = await _status_round(b, venue) if status_every > 0 else None
    messages = [
        batch([encode(SyncUpdate(name, update)) for name, update in sale])[0] for sale in sold
    ]
    async with contextlib.AsyncExitStack() as stack:
        send = None  # (``--wire``: through TLS, the websocket and the channel's read loop)
        if wire:
            send = await stack.enter_async_context(wire_feed(b.link_messages, "R1"))
        half = len(messages) // 2
        drained = 0
        started = 0.0
        profiler = cProfile.Profile() if profile else None
        for k, message in enumerate(messages):
            if k == half:
                drained, started = b.sync.drained, time.thread_time()
                if profiler is not None:
                    profiler.enable()
            store.committed.clear()
            if send is None:
                await b.link_messages("R1", [message])
            else:
                send(message)
            await store.committed.wait()
            await _turns(2)
            if status_round is not None and (k + 1) % status_every == 0:
                await status_round()
            for box in sent.values():
                box.clear()
        spent = time.thread_time() - started
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
    rounds = (b.sync.drained - drained) / (len(messages) - half)
    # the day counted whole once it is in (a tally watching while it arrived would count in the
    # measured half what a node's status counts: ``--status`` has that)
    tally = LedgerTally(b.replica.doc(ledger_name(venue.business_date(NOW))))
    receipts = sum(c.get("receipts", 0) for c in tally.counts().values())
    tally.close()
    del seller
    if receipts != sales:
        raise RuntimeError(f"the receiver counts {receipts} receipts of {sales}")
    updates = sum(len(sale) for sale in sold) / len(sold)
    return spent / (len(messages) - half) * 1e6, rounds, receipts, updates


def receive_us_per_receipt(
    sales: int,
    peers: int = 4,
    profile: str = "",
    mark_wait_ms: float = MARK_WAIT_MS,
    status_every: int = 0,
    wire: bool = False,
) -> tuple[float, float, float]:
    """CPU per received sale (decode to committed, through the engine), pump drains per sale and
    updates per sale; ``profile``: a file for cProfile's stats of the measured half;
    ``status_every``: a status round after every that many sales (0: none); ``wire``: each sale's
    message read off a TLS websocket on loopback (``wire_feed``)."""
    spent, rounds, _, updates = asyncio.run(
        _receive(sales, peers, profile, mark_wait_ms, status_every, wire)
    )
    return spent, rounds, updates


async def _mesh(sales: int, nodes: int, mark_wait_ms: float) -> tuple[float, float]:
    """``nodes`` registers' engines in this process (null stores), every pair linked through lists;
    sale ``k`` written on register ``k % nodes`` through its engine's write path, then every list
    handed over and every engine pumped until quiet. (CPU per receipt over the second half, every
    engine together; update messages sent per receipt, read off the frames afterwards.)"""
    engines: dict[str, Engine] = {}
    for n in range(nodes):
        node = f"R{n + 1}"
        engines[node] = Engine(
            _NullStore(),
            venue=VENUE,
            node_id=node,
            role="register",
            sync_config=SyncConfig(),
            received_commit_interval=0.0,
        )
        await engines[node].open()
    boxes: dict[tuple[str, str], list[bytes]] = {}
    for a in engines:
        for b in engines:
            if a != b:
                box = boxes[(a, b)] = []
                engines[a].link_opened(
                    b, LinkPeer(b, "register", VENUE, features=FEATURES), box.extend
                )
    frames: list[bytes] = []

    async def settle() -> None:
        for _ in range(200):
            moved = False
            for (a, b), box in boxes.items():
                out = [d for d in box if d]
                box.clear()
                if out:
                    moved = True
                    frames.extend(out)
                    await engines[b].link_messages(a, out)
            for engine in engines.values():
                await engine.pump()
            await _turns(2)
            if not moved and not any(boxes.values()):
                return
        raise RuntimeError("the mesh never went quiet")

    await settle()
    venues = {node: Venue(e.replica, device=node, role="register") for node, e in engines.items()}
    for node, venue in venues.items():
        let_marks_wait(venue, engines[node], mark_wait_ms)
    quiet = logging.getLogger("meshpos.sync")
    quiet.disabled = True  # (each register's own catalog, as ``_sales`` makes it)
    try:
        for venue in venues.values():
            sample_catalog(venue.catalog, pin_hash="x")
    finally:
        quiet.disabled = False
    for node, venue in venues.items():
        await engines[node].write(partial(venue.open_shift_now, CASHIER, 10_000, NOW))
    await settle()
    half, started = sales // 2, 0.0
    for k in range(sales):
        if k == half:
            started, frames = time.thread_time(), []
        node = f"R{k % nodes + 1}"
        for tap, wait in _taps(venues[node], k):
            engines[node]._change(tap, LINGER_MS if wait else 0)
        await engines[node].pump()
        await settle()
    spent = time.thread_time() - started
    day = ledger_name(venues["R1"].business_date(NOW))
    if len({tuple(sorted(held_clocks(e.replica.doc(day)).items())) for e in engines.values()}) != 1:
        raise RuntimeError("the mesh's registers hold different days")
    updates = sum(isinstance(decode(m), SyncUpdate) for frame in frames for m in messages_in(frame))
    return spent / (sales - half) * 1e3, updates / (sales - half)


def mesh_ms_per_receipt(
    sales: int, nodes: int = 6, mark_wait_ms: float = MARK_WAIT_MS
) -> tuple[float, float]:
    """CPU per receipt of a whole mesh of ``nodes`` engines in this process (no TLS, sockets, disk
    nor status: what the sale, its forwarding and every receiver cost), and update messages per receipt."""
    return asyncio.run(_mesh(sales, nodes, mark_wait_ms))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m meshpos.bench.receive_parts", description=__doc__
    )
    parser.add_argument("--sales", type=int, default=400, help="sales in the day (default 400)")
    parser.add_argument("--peers", type=int, default=4, help="other linked peers (default 4)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--profile", default="", help="write cProfile stats of the measured half")
    parser.add_argument(
        "--mark-wait-ms",
        type=float,
        default=MARK_WAIT_MS,
        help=f"the registers' mark_wait_ms (default {MARK_WAIT_MS:g}, a node's; 0: marks leave "
        "with their receipts, as before issue 18's marks)",
    )
    parser.add_argument(
        "--mesh",
        type=int,
        default=0,
        help="also run a whole mesh of this many engines in this process (0: not)",
    )
    parser.add_argument(
        "--status",
        type=int,
        default=0,
        help="a status round (the ticker's hooks) after every this many received sales (0: none)",
    )
    parser.add_argument(
        "--wire",
        action="store_true",
        help="each sale's message read off a TLS websocket on loopback (default: handed over)",
    )
    args = parser.parse_args(argv)
    spent, rounds, updates = receive_us_per_receipt(
        max(2, args.sales), args.peers, args.profile, args.mark_wait_ms, args.status, args.wire
    )
    report: dict[str, Any] = {
        "sales": args.sales,
        "peers": args.peers,
        "allocator": os.environ.get("PYTHONMALLOC", "pymalloc"),
        "receive_us_per_receipt": round(spent, 1),
        "rounds_per_receipt": round(rounds, 2),
        "updates_per_receipt": round(updates, 2),
        "mark_wait_ms": args.mark_wait_ms,
        "status_every": args.status,
        "wire": args.wire,
    }
    if args.mesh > 1:
        mesh_ms, mesh_updates = mesh_ms_per_receipt(
            max(2, args.sales), args.mesh, args.mark_wait_ms
        )
        report["mesh_nodes"] = args.mesh
        report["mesh_cpu_ms_per_receipt"] = round(mesh_ms, 3)
        report["mesh_update_messages_per_receipt"] = round(mesh_updates, 2)
    print_report(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
