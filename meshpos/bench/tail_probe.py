"""Where a slow sale's and a slow propagation's time goes, timed inside a bench register process
(``meshpos bench mesh --loop-figures``; issue 18, tail).

The mesh bench reports a sale's p99 (four taps, each awaiting its durable commit) and a receipt's
propagation p99, and the loop figures say what held the loop; neither says which part of a slow tap
was slow. This probe stamps every tap (``Engine.write``) through its phases, on the register under
the bench's load:

``model`` the change on the model; ``round`` until the pump round that commits it starts its
append (the pump lock, a round of received updates under way, the loop getting to the pump);
``queue`` until the writer hands its transaction to the connection's thread (another transaction in
flight); ``thread`` until that thread runs it (the thread's wake-up and the GIL); ``begin``
``PRAGMA synchronous`` when it changes and ``BEGIN IMMEDIATE``; ``statements`` the inserts;
``commit`` the ``COMMIT`` (the fsync when fsync'd, SQLite's checkpoint when it crosses one);
``hand_back`` until the loop runs the outcome's callback; ``after`` until the write returns (the
round's listeners, flush and publish, and the caller's task resuming).

Propagation, per receipt: ``paid`` (the seller's write returned) to the first batch handed to a
socket that holds the receipt's id (``send``: negative when it left before the write returned), to the receiver's first read of the bytes
(``arrive``: the TLS transport's read callback), to the batch being taken by its link's task
(``take``), to the receipt applied (``apply``: the receipts map's observer). **Changed** (issue 18,
latency; the twenty-third session): each receiver splits its part of each batch its links take
(``receive_*``): its loop busy or waiting in ``select`` when the bytes came, ``read`` (-> the TLS read
callback) and ``take`` (-> handled), and what the loop ran in a ``take`` over 0.5 ms, by name.

Installed only when the bench asks (:data:`~meshpos.bench.mesh_meter.LOOP_ENV`): each stamp wraps
a call (a few µs a tap), which the CPU figures of such a run include.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import itertools
import resource
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshpos.bench.mesh_meter import _callback_name, message_kind, percentile
from meshpos.engine.engine import Engine
from meshpos.net.buffered import BufferedStreamProtocol
from meshpos.net.wsconn import WsConnection
from meshpos.store import writer
from meshpos.store.connection import Job, Stamp, Transaction
from meshpos.sync._codec import BATCH, unbatch

#: the phases of a tap, in order (each: from the previous stamp to its own)
PHASES = (
    "model",
    "round",
    "queue",
    "thread",
    "begin",
    "statements",
    "commit",
    "hand_back",
    "after",
)
now = time.perf_counter


@dataclass(slots=True)
class _Txn:
    """One store transaction's stamps (``created``: handed to the connection's thread)."""

    created: float = 0.0
    fsync: bool = True
    thread: float = 0.0
    begun: float = 0.0
    job_done: float = 0.0
    committed: float = 0.0
    told: float = 0.0
    told_round: int = 0  # (``TailProbe.round_no`` then)


@dataclass(slots=True)
class _Round:
    """One engine commit round (``Engine._append``): when it began and what its batch held."""

    drain: int
    appended: float
    local: int
    received: int
    txn: _Txn | None = None


@dataclass(slots=True)
class _Tap:
    sale: int  # (``TailProbe.sale`` when it was called)
    called: float
    changed: float = 0.0
    want: int = 0
    urgent: bool = False  # a write that may not wait (the sale's payment)
    returned: float = 0.0


def _context_switches() -> tuple[int, int]:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # (every thread of the process)
    return usage.ru_nvcsw, usage.ru_nivcsw


def _holds_update(message: bytes) -> bool:
    inside = unbatch(message) if message[:1] == bytes([BATCH]) else [message]
    return any(message_kind(part) == "update" for part in inside if part)


class TailProbe:
    """Stamps taps and propagation in this process while installed (a context manager)."""

    def __init__(self) -> None:
        self._taps: list[_Tap] = []
        self.sale: contextvars.ContextVar[int] = contextvars.ContextVar("sale", default=-1)
        self._sales: dict[str, int] = {}  # receipt id -> the sale (``sale``) that paid it
        self.rounds: list[_Round] = []
        self.sent: dict[str, float] = {}  # receipt id -> first update batch handed to a socket
        self._unsent: list[str] = []
        self._appending: _Round | None = None
        self._pending: dict[int, _Round] = {}  # id(an append's future) -> its round
        self._txn_rounds: list[_Round] = []  # the rounds the transaction being created commits
        self._restore: list[tuple[Any, str, Any]] = []
        self._watched: Callable[[], Stamp] | None = None  # ``Transaction.watch`` before
        self._switches = (0, 0)  # the process's context switches when installed
        self.batch: tuple[float, float] = (0.0, 0.0)  # (arrived, taken) of the batch being handled
        # the last batches holding an update handed to a socket: (when, loop round, bytes)
        self._recent: collections.deque[tuple[float, int, bytes]] = collections.deque(maxlen=64)
        self._sent_round: dict[str, int] = {}  # receipt id -> the loop round it was written in
        self.round_no = 0  # event-loop rounds so far (``_run_once``)
        self.writes = 0  # bytes handed to a stream's transport (``StreamWriter.write``): TLS writes
        self._tap: _Tap | None = None  # the write whose change runs now
        self._txn_fsync = True  # the transaction being created is fsync'd
        # (latency) the loop's last ``select``: (called, returned); and the one before's return
        self._select: tuple[float, float] = (0.0, 0.0)
        self._select_before = 0.0
        # each batch a link took: (waited in select, busy before, read, take) in seconds
        self.received: list[tuple[float, float, float, float, int]] = []  # (+ loop rounds taken)
        # what the loop ran lately: (handle, began, ended); names looked up only for a slow take
        self._ran: collections.deque[tuple[Any, float, float]] = collections.deque(maxlen=256)
        self.take_gaps: collections.defaultdict[str, float] = collections.defaultdict(float)

    @property
    def taps(self) -> list[_Tap]:
        return self._taps

    @taps.setter
    def taps(self, taps: list[_Tap]) -> None:
        """A new phase (the bench's ``sell``): its taps, and its received batches from here on."""
        self._taps = taps
        self.received, self.take_gaps = [], collections.defaultdict(float)

    def paid(self, receipt_id: str) -> None:
        """The seller's payment returned: the update batch handed to a socket that holds the
        receipt's id (one of the last few written, or the next one that holds it) carried it."""
        self._sales[receipt_id] = self.sale.get()
        key = receipt_id.encode()
        for at, round_no, data in reversed(self._recent):
            if key in data:
                self.sent[receipt_id], self._sent_round[receipt_id] = at, round_no
                return
        self._unsent.append(receipt_id)

    def _sent_update(self, messages: list[bytes]) -> None:
        if not any(map(_holds_update, messages)):
            return
        at, data = now(), b"".join(messages)
        self._recent.append((at, self.round_no, data))
        waiting = [rid for rid in self._unsent if rid.encode() in data]
        for receipt_id in waiting:
            self.sent[receipt_id], self._sent_round[receipt_id] = at, self.round_no
            self._unsent.remove(receipt_id)

    def __enter__(self) -> TailProbe:
        probe = self
        write, change, append = Engine.write, Engine._change, Engine._append
        writer_append, begin = writer.Writer.append, writer.Writer._begin
        send_batch, recv_batch = WsConnection.send_batch, WsConnection.recv_batch
        send_now = getattr(WsConnection, "send_now", None)  # (issue 18, tail: not on main)
        at_once = getattr(WsConnection, "take_at_once", None)  # (issue 18, latency: not on main)
        updated = BufferedStreamProtocol.buffer_updated
        stream_write = asyncio.StreamWriter.write
        run_once = asyncio.BaseEventLoop._run_once  # type: ignore[attr-defined]
        select = selectors.EpollSelector.select
        handle_run = asyncio.Handle._run

        def timed_select(selector: selectors.EpollSelector, timeout: float | None = None) -> Any:
            called = now()
            try:
                return select(selector, timeout)
            finally:
                probe._select_before = probe._select[1]
                probe._select = (called, now())

        def timed_handle(handle: asyncio.Handle) -> None:
            began = now()
            handle_run(handle)
            probe._ran.append((handle, began, now()))

        def counted_round(loop: asyncio.BaseEventLoop) -> None:
            probe.round_no += 1
            run_once(loop)

        def counted_write(stream: asyncio.StreamWriter, data: Any) -> None:
            probe.writes += 1
            stream_write(stream, data)

        async def timed_write(engine: Engine, fn: Callable[[], Any], *, wait_ms: float = 0) -> Any:
            tap = _Tap(probe.sale.get(), now(), urgent=wait_ms == 0)
            probe.taps.append(tap)
            probe._tap = tap
            try:
                return await write(engine, fn, wait_ms=wait_ms)
            finally:
                tap.returned = now()

        def timed_change(engine: Engine, fn: Callable[[], Any], wait_ms: float) -> Any:
            tap = probe._tap
            try:
                return change(engine, fn, wait_ms)
            finally:
                if tap is not None:
                    tap.changed, tap.want = now(), engine.sync.drained + 1
                    probe._tap = None

        async def timed_append(engine: Engine, batch: list[Any], meta: Any) -> None:
            local = sum(1 for item in batch if item[2])
            probe._appending = _Round(engine.sync.drained, now(), local, len(batch) - local)
            probe.rounds.append(probe._appending)
            try:
                await append(engine, batch, meta)
            finally:
                probe._appending = None

        def timed_writer_append(w: writer.Writer, rows: Any, meta: Any, fsync: bool = True) -> Any:
            done = writer_append(w, rows, meta, fsync)
            if probe._appending is not None:
                probe._pending[id(done)] = probe._appending
                probe._appending = None
            return done

        def timed_begin(
            w: writer.Writer, what: str, job: Job, waiters: list[Any], committed: Any, **kw: Any
        ) -> Any:
            probe._txn_rounds = [r for f in waiters if (r := probe._pending.pop(id(f), None))]
            probe._txn_fsync = kw.get("fsync", True)
            try:
                return begin(w, what, job, waiters, committed, **kw)
            finally:
                probe._txn_rounds = []

        async def timed_send_batch(conn: WsConnection, messages: list[bytes]) -> None:
            probe._sent_update(messages)  # (written before its first await)
            await send_batch(conn, messages)

        def timed_send_now(conn: WsConnection, messages: list[bytes]) -> bool:
            assert send_now is not None
            written: bool = send_now(conn, messages)
            if written:
                probe._sent_update(messages)
            return written

        def took(conn: WsConnection, got: list[bytes]) -> None:
            reader: Any = conn._reader
            arrived = getattr(reader, "probe_arrived", None) or now()
            reader.probe_arrived = None
            probe.batch = (arrived, now())
            if got and any(map(_holds_update, got)) and getattr(reader, "probe_select", None):
                called, returned, before, rounds = reader.probe_select
                parts = (returned - called, called - before, arrived - returned)
                probe.received.append((*parts, probe.batch[1] - arrived, probe.round_no - rounds))
                if probe.batch[1] - arrived > 0.0005:
                    probe._take_gap(arrived, probe.batch[1])

        async def timed_recv_batch(conn: WsConnection, most: int = 256) -> list[bytes]:
            got = await recv_batch(conn, most)
            took(conn, got)
            return got

        def timed_at_once(conn: WsConnection, take: Callable[[list[bytes]], None]) -> None:
            def taking(got: list[bytes]) -> None:  # (in the read callback: ``take`` about 0)
                took(conn, got)
                take(got)

            assert at_once is not None
            at_once(conn, taking)

        def timed_updated(protocol: BufferedStreamProtocol, nbytes: int) -> None:
            reader: Any = getattr(protocol, "_stream_reader", None)
            if reader is not None and getattr(reader, "probe_arrived", None) is None:
                reader.probe_arrived = now()
                reader.probe_select = (*probe._select, probe._select_before, probe.round_no)
            updated(protocol, nbytes)

        def watch() -> Stamp:
            txn = _Txn(now(), probe._txn_fsync)
            for found in probe._txn_rounds:
                found.txn = txn

            def stamp(stage: str) -> None:
                setattr(txn, stage, now())
                if stage == "told":
                    txn.told_round = probe.round_no

            return stamp

        for owner, name, value in (
            (Engine, "write", timed_write),
            (Engine, "_change", timed_change),
            (Engine, "_append", timed_append),
            (writer.Writer, "append", timed_writer_append),
            (writer.Writer, "_begin", timed_begin),
            (WsConnection, "send_batch", timed_send_batch),
            *([(WsConnection, "send_now", timed_send_now)] if send_now is not None else []),
            *([(WsConnection, "take_at_once", timed_at_once)] if at_once is not None else []),
            (WsConnection, "recv_batch", timed_recv_batch),
            (BufferedStreamProtocol, "buffer_updated", timed_updated),
            (asyncio.StreamWriter, "write", counted_write),
            (asyncio.BaseEventLoop, "_run_once", counted_round),
            (selectors.EpollSelector, "select", timed_select),
            (asyncio.Handle, "_run", timed_handle),
        ):
            self._restore.append((owner, name, owner.__dict__.get(name)))  # (None: inherited)
            setattr(owner, name, value)
        self._watched = Transaction.watch
        Transaction.watch = watch
        self._switches = _context_switches()
        return self

    def __exit__(self, *exc: object) -> None:
        Transaction.watch = self._watched
        for owner, name, value in reversed(self._restore):
            if value is None:
                delattr(owner, name)
            else:
                setattr(owner, name, value)
        self._restore = []

    def _take_gap(self, arrived: float, taken: float) -> None:
        """What the loop ran between a batch's bytes arriving and its link's task taking them."""
        for handle, began, ended in self._ran:
            if ended > arrived and began < taken:  # (the part of it inside the gap)
                self.take_gaps[_callback_name(handle)] += min(ended, taken) - max(began, arrived)

    def receive_figures(self) -> dict[str, Any]:
        """This device's part of each batch holding an update its links took, p50/p99 in ms."""
        if not self.received:
            return {}
        waited = [r[0] for r in self.received]
        busy = [r[1] for r in self.received if r[0] < 0.00005]  # the select found it at once
        return {
            "receive_batches": len(self.received),
            "receive_loop_was_busy": len(busy),  # (its select did not wait: 50 us or less)
            "receive_select_wait_ms": _p50_p99(waited),
            "receive_busy_before_ms": _p50_p99(busy),
            "receive_read_ms": _p50_p99([r[2] for r in self.received]),
            "receive_take_ms": _p50_p99([r[3] for r in self.received]),
            "receive_take_rounds": collections.Counter(str(min(r[4], 2)) for r in self.received),
            "receive_take_gap_by_callback_ms": {
                name: round(s * 1000, 1)
                for name, s in sorted(self.take_gaps.items(), key=lambda i: -i[1])[:8]
            },
        }

    def _phases(self, tap: _Tap) -> dict[str, float] | None:
        """A committed tap's phases in seconds (None: its round was not seen whole)."""
        found = next((r for r in self.rounds if r.drain >= tap.want and r.txn), None)
        if found is None or found.txn is None or not tap.returned or found.txn.told == 0.0:
            return None
        t = found.txn
        stamps = [tap.called, tap.changed, found.appended, t.created, t.thread, t.begun]
        stamps += [t.job_done, t.committed, t.told, tap.returned]
        if any(b < a for a, b in itertools.pairwise(stamps)):
            return None  # (a tap that joined a round already begun: not split)
        spans = {p: b - a for p, (a, b) in zip(PHASES, itertools.pairwise(stamps), strict=True)}
        spans["fsync"] = float(t.fsync)
        spans["received"] = float(found.received)
        return spans

    def figures(self, sales: list[list[Any]]) -> dict[str, Any]:
        """Per phase p50/p99 of every tap, and where the slowest 2 % of sales (by wall time,
        ``[receipt, started, paid]``) spent theirs: each phase's share summed over their taps."""
        split = [(tap, self._phases(tap)) for tap in self.taps]
        done = [s for _, s in split if s is not None]
        switches = _context_switches()
        out: dict[str, Any] = {
            "socket_writes": self.writes,
            # the process's voluntary (a thread waiting: for the GIL too) and involuntary context
            # switches while installed (what a shorter switch interval would add to)
            "tap_context_switches": [a - b for a, b in zip(switches, self._switches, strict=True)],
            "tap_phase_split": f"{len(done)}/{len(self.taps)}",
            # of the split taps: how many were committed fsync'd, with received updates
            "tap_fsynced_received": [
                sum(s["fsync"] > 0 for s in done),
                sum(s["received"] > 0 for s in done),
            ],
        }
        for phase in PHASES:
            values = [s[phase] for s in done]
            out[f"tap_phase_{phase}_ms"] = [
                round(percentile(values, 0.5) * 1000, 2),
                round(percentile(values, 0.99) * 1000, 2),
            ]
        ordered = sorted(sales, key=lambda s: s[1] - s[2])  # slowest first
        slow = ordered[: max(1, len(ordered) // 50)]
        totals = dict.fromkeys(PHASES, 0.0)
        walls, taps, fsynced, received = 0.0, 0, 0, 0
        for rid, started, paid in slow:
            walls += paid - started
            sale = self._sales.get(rid, -2)
            for tap, spans in split:
                if spans is not None and tap.sale == sale:
                    taps += 1
                    fsynced += spans["fsync"] > 0
                    received += spans["received"] > 0
                    for phase in PHASES:
                        totals[phase] += spans[phase]
        out["tap_slow_sales_ms"] = round(walls / len(slow) * 1000, 1) if slow else 0.0
        out["tap_slow_sales_by_phase_ms"] = {
            p: round(v / len(slow) * 1000, 2) for p, v in totals.items() if slow
        }
        # the slow sales' split taps: how many, fsync'd, whose round held received updates too
        out["tap_slow_taps_fsynced_received"] = [taps, fsynced, received]
        out["tap_payment_to_send_rounds"] = self._send_rounds(sales, split)
        out.update(self.receive_figures())
        return out

    def _send_rounds(
        self, sales: list[list[Any]], split: list[tuple[_Tap, dict[str, float] | None]]
    ) -> dict[str, int]:
        """How many loop rounds after its payment's commit was told (on the loop) each receipt's
        update was handed to a socket: how many receipts took 0, 1, 2, 3 or more."""
        told: dict[int, int] = {}  # sale -> the round its payment's commit was told in
        for tap, spans in split:
            found = (
                spans
                and tap.urgent
                and next((r for r in self.rounds if r.drain >= tap.want and r.txn), None)
            )
            if found and found.txn is not None:
                told[tap.sale] = found.txn.told_round
        counts = {"0": 0, "1": 0, "2": 0, "3+": 0}
        for rid, _started, _paid in sales:
            sale, sent = self._sales.get(rid), self._sent_round.get(rid)
            if sale in told and sent is not None:
                hops = max(0, sent - told[sale])
                counts[str(hops) if hops < 3 else "3+"] += 1
        return counts


def _p50_p99(values: list[float]) -> list[float]:  # (ms)
    return [round(percentile(values, q) * 1000, 3) for q in (0.5, 0.99)]


#: the phases of a receipt's propagation to its slowest receiver, in order
HOPS = ("send", "arrive", "take", "apply")


def propagation_phases(
    sales: list[tuple[str, int, float]], replies: list[dict[str, Any]]
) -> dict[str, Any]:
    """Each receipt's propagation to its slowest receiver split into :data:`HOPS` (``sales``:
    receipt id, seller, paid; ``replies``: each register's ``seen`` reply, with the probe's stamps):
    p50/p99 of each, and the mean of each over the slowest 2 % of receipts. Empty without stamps."""
    split: list[tuple[float, list[float]]] = []
    for rid, origin, paid in sales:
        sent = replies[origin].get("sent", {}).get(rid)
        far = max(
            (j for j in range(len(replies)) if j != origin),
            key=lambda j: replies[j]["seen"].get(rid, 0.0),
            default=None,
        )
        if sent is None or far is None or rid not in replies[far].get("handled", {}):
            continue
        arrived, taken = replies[far]["handled"][rid]
        seen = replies[far]["seen"][rid]
        split.append((seen - paid, [sent - paid, arrived - sent, taken - arrived, seen - taken]))
    if not split:
        return {}
    split.sort(key=lambda item: -item[0])
    slow = split[: max(1, len(split) // 50)]
    out: dict[str, Any] = {"propagation_phase_split": len(split)}
    for k, hop in enumerate(HOPS):
        values = [parts[k] for _, parts in split]
        out[f"propagation_phase_{hop}_ms"] = [
            round(percentile(values, 0.5) * 1000, 2),
            round(percentile(values, 0.99) * 1000, 2),
        ]
    out["propagation_slow_ms"] = round(sum(total for total, _ in slow) / len(slow) * 1000, 1)
    out["propagation_slow_by_phase_ms"] = {
        hop: round(sum(parts[k] for _, parts in slow) / len(slow) * 1000, 2)
        for k, hop in enumerate(HOPS)
    }
    return out
