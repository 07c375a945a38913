"""Stateful convergence: 3 to 6 nodes (registers and a kds) on a faulty in-memory network, linked as a
ring (the bounded topology at degree 2: most updates arrive forwarded, not from their author).

Each node is what ``meshpos.node`` wires: a model ``Replica`` + ``Venue`` (register or kds), a
``Synchronizer`` sharing the replica's documents and client id, and a durable ``MemoryStore``. Random domain
operations, partitions and heals, dropped / duplicated / reordered messages and crash-restarts from the
store (with a fresh client id), and business days closed (unloaded, answered from their summary) and
reopened on demand or when a peer's message needs them. Every update a node makes or receives is committed to its store when the
synchronizer reports it, before the node's outgoing data is drained; a money record is acknowledged only
after its commit. After healing, every node holds identical documents and derived views, every
acknowledged money record exactly once, nothing unacknowledged, and unique receipt numbers.

Those final checks run in ``teardown``. Hypothesis discards an exception raised there when the run's data
was already exhausted (an overrun inside a rule's ``data.draw``: it treats the run as aborted, not failed),
so every failed check is also recorded in ``FAILURES`` with a report (the offending records, where they
came from, which nodes hold them, the steps of the run) and the test fails on it after hypothesis returns.
Rules draw everything they need before they change anything, so a run cut short by an overrun still
leaves bookkeeping and mesh in agreement.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from pycrdt import Doc, Map

from meshpos.engine import StoreDocuments
from meshpos.errors import DomainError, PermissionDenied
from meshpos.model import Replica, Venue, decode_state_vector
from meshpos.model.sample import CASHIER, COOK, MANAGER, sample_catalog
from meshpos.store import MemoryStore
from meshpos.sync import (
    ClientIdAlarm,
    DocumentChanged,
    LocalWriteRefused,
    ReopenWanted,
    SessionConfig,
    SyncConfig,
    SyncEvent,
    Synchronizer,
    UpdateRejected,
)
from meshpos.sync.memory import Faults, MemoryNetwork

from ..model.conftest import Acked
from .helpers import VENUE

T = TypeVar("T")

NOW = 1_764_064_800_000  # 2025-11-25 10:00 UTC: every operation falls on this business day
DATE = "2025-11-25"
LEDGER = f"ledger/{DATE}"
KITCHEN = f"kitchen/{DATE}"
DOCUMENTS = ("catalog", "stoplist", LEDGER, KITCHEN)
PRODUCTS = ["espresso", "burger", "fries", "croissant", "lemonade", "export-beans"]
CONFIG = SyncConfig(
    heartbeat_interval=1.0,
    anti_entropy_interval=3.0,
    degree=2,  # a ring: updates reach most nodes by forwarding (sync/_topology.py)
    full_mesh=0,  # (not a small venue's full mesh: the ring whatever the venue's size)
    session=SessionConfig(max_message_size=4096, idle_timeout=4.0, hello_timeout=4.0),
)
FIGURES = {
    "runs": 0,
    "operations": 0,
    "refused": 0,
    "deliveries": 0,
    "drops": 0,
    "duplicates": 0,
    "reordered": 0,
    "restarts": 0,
    "days_closed": 0,
    "days_reopened": 0,
    "partitions": 0,
    "acked": 0,
    "diverged": 0,
    "lost": 0,
    "duplicated": 0,
    "rejected": 0,
}
MONEY = ("payments", "receipts", "refunds", "shifts", "cash_moves")
# one report per failed final check, whether or not hypothesis reported the failure itself
FAILURES: list[str] = []


def _catalog_update() -> bytes:
    """The console's catalog, as every node's store holds it from an earlier sync."""
    replica = Replica()
    sample_catalog(Venue(replica, device="console", role="console").catalog, pin_hash="x")
    return replica.doc("catalog").get_update()


CATALOG = _catalog_update()


@dataclass(frozen=True)
class Written:
    """Where a money record came from, for the failure report."""

    kind: str
    node: str
    client_id: int
    status: str  # acked | crashed before commit | forged by a kds (refused)
    step: int


@dataclass
class Node:
    name: str
    role: str
    replica: Replica
    venue: Venue
    sync: Synchronizer


class Mesh(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rng = random.Random(0)
        self.loop = asyncio.new_event_loop()
        self.net = MemoryNetwork(self.rng, faults=Faults(), listener=self._on_event)
        self.stores: dict[str, MemoryStore] = {}
        self.nodes: dict[str, Node] = {}
        self.names: list[str] = []
        self.acked = Acked()
        # cash moves a kds wrote into the ledger (refused by its synchronizer: they never leave it)
        self.forged: set[str] = set()
        self.forgers: set[int] = set()  # client ids that wrote them
        self.clock = 0  # operations so far: the wall clock in seconds past NOW
        self.written: dict[str, Written] = {}  # money record id -> provenance
        self.rejections: list[str] = []
        self.steps: list[str] = []  # the rules run so far, with their arguments
        self.busy: str | None = None  # the rule in progress (still set if it was cut short)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def _new_id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    # --- a node -----------------------------------------------------------------------------------

    def _on_event(self, name: str, event: SyncEvent) -> None:
        """The node's event handler: runs before its outgoing data is drained."""
        node = self.nodes[name]
        if isinstance(event, DocumentChanged):
            meta = None
            if event.peer is None and node.role == "register":
                meta = {"receipt_seq": str(node.venue.receipt_seq)}
            self._run(self.stores[name].append([(event.doc, event.update)], meta=meta))
        elif isinstance(event, UpdateRejected):
            FIGURES["rejected"] += 1
            self.rejections.append(f"step {len(self.steps)}: {name} rejected {event}")
        elif isinstance(event, ClientIdAlarm):
            raise AssertionError(f"{name}: client id alarm {event}")
        elif isinstance(event, ReopenWanted):
            self._reopen(name, event.doc)

    def _close(self, name: str) -> None:
        """Close the business day on ``name`` as the engine does: commit what is pending, then have
        the synchronizer drop it and the store keep its summary."""
        self.net.pump(name)
        node = self.nodes[name]
        for doc in (LEDGER, KITCHEN):
            if doc in node.sync.docs:
                state_vector, deletions = node.sync.close_doc(doc)
                node.replica.close(doc)
                self._run(self.stores[name].close_day(doc, state_vector, deletions))
                FIGURES["days_closed"] += 1

    def _reopen(self, name: str, doc: str) -> None:
        """Open a closed day from the store (what the engine's open_day does)."""
        node = self.nodes[name]
        if node.sync.is_closed(doc):
            update = self._run(self.stores[name].load(doc))
            self._run(self.stores[name].set_closed(doc, False))
            node.replica.reopen(doc)
            node.sync.reopen(doc, update)
            FIGURES["days_reopened"] += 1

    def _start(self, name: str) -> Node:
        role = "kds" if name.startswith("K") else "register"
        store = self.stores[name]
        replica = Replica(client_id=self.rng.randrange(1, 2**53))  # fresh at every start
        sync = Synchronizer(
            venue=VENUE,
            node_id=name,
            role=role,
            client_id=replica.client_id,
            config=CONFIG,
            doc_factory=replica.doc,
        )
        for doc, (state_vector, deletions) in self._run(store.closed_days()).items():
            sync.mark_closed(doc, state_vector, deletions)
            replica.close(doc)
        for doc, update in self._run(StoreDocuments(store).load()).items():
            sync.load(doc, update)
        for doc in DOCUMENTS:
            if not sync.is_closed(doc):
                sync.open_doc(doc)
        assert sync.events_received() == [], "loading reports nothing"
        replica.take_updates()  # what was loaded is already in the store
        seq = self._run(store.get_meta("receipt_seq"))
        venue = Venue(
            replica, device=name, role=role, receipt_seq=int(seq or 0), new_id=self._new_id
        )
        node = Node(name, role, replica, venue, sync)
        self.nodes[name] = node
        self.net.add(sync)
        return node

    def _crash(self, name: str, notify_peers: bool) -> None:
        self.net.crash(name, notify_peers=notify_peers)
        del self.nodes[name]  # replica, venue, synchronizer and anything uncommitted are gone

    @initialize(registers=st.integers(2, 5), seed=st.integers(0, 2**32 - 1))
    def start(self, registers: int, seed: int) -> None:
        self._begin(f"start(registers={registers}, seed={seed})")
        self.rng.seed(seed)
        self.names = [f"R{i}" for i in range(1, registers + 1)] + ["K1"]
        for name in self.names:
            self.stores[name] = MemoryStore(compact_rows=50)
            self._run(self.stores[name].append([("catalog", CATALOG)]))
            self._start(name)
        FIGURES["runs"] += 1
        self.busy = None

    def _begin(self, step: str) -> None:
        """A rule starts (after its draws): logged for the failure report."""
        self.steps.append(step)
        self.busy = step

    def _record(self, name: str, acked: Acked, status: str) -> None:
        client_id = self.nodes[name].replica.client_id
        for kind in MONEY:
            for record in getattr(acked, kind):
                self.written[record] = Written(kind, name, client_id, status, len(self.steps))

    # --- domain operations ------------------------------------------------------------------------

    def _register_op(self, venue: Venue, rng: random.Random, now: int, acked: Acked) -> None:
        user = rng.choice([CASHIER, MANAGER])
        ledgers = venue.ledgers()
        orders = [o for ledger in ledgers for o in ledger.orders() if o.status == "open"]
        receipts = [r for ledger in ledgers for r in ledger.receipts()]
        kinds = ["shift", "order", "line", "line", "pay", "pay", "refund", "cash", "close"]
        kind = rng.choice([*kinds, "kitchen", "stop"])
        if kind == "shift" or venue.open_shift() is None:
            acked.shifts.add(venue.open_shift_now(user, rng.randrange(0, 20_000), now).id)
        elif kind == "order" or not orders:
            order = venue.open_order(user, now)
            sellable = [p for p in PRODUCTS if not venue.stoplist.is_stopped(p)]
            if sellable:  # the order is written already: this line must not be refused
                venue.add_line(user, order.id, rng.choice(sellable), rng.randint(1, 4), now)
        elif kind == "line":
            venue.add_line(
                user, rng.choice(orders).id, rng.choice(PRODUCTS), rng.randint(1, 3), now
            )
        elif kind == "pay":
            order = rng.choice(orders)
            due = order.totals.due
            amount = due if rng.random() < 0.6 else rng.randint(1, max(due, 1))
            method = rng.choice(["cash", "card"])
            result = venue.pay(user, order.id, method, now, amount=amount, tip=rng.choice([0, 100]))
            acked.payments.add(result.payment.id)
            if result.receipt:
                acked.receipts.add(result.receipt.id)
        elif kind == "refund" and receipts:
            receipt = rng.choice(receipts)
            line = rng.choice(receipt.lines)
            acked.refunds.add(venue.refund(MANAGER, receipt.id, now, lines={line.line_id: 1}).id)
        elif kind == "cash":
            move = venue.cash_move(user, rng.choice(["in", "out"]), rng.randint(1, 5000), "x", now)
            acked.cash_moves.add(move.id)
        elif kind == "close":
            venue.close_shift(user, rng.randrange(0, 50_000), now)
        elif kind == "kitchen":
            venue.send_to_kitchen(user, rng.choice(orders).id, now)
        else:
            venue.set_stop(user, rng.choice(PRODUCTS), rng.random() < 0.3, now)

    def _kds_op(self, venue: Venue, rng: random.Random, now: int) -> None:
        tickets = venue.kitchen(DATE).tickets()
        kind = rng.choice(["bump", "bump", "bump", "recall", "stop", "money"])
        if kind in ("bump", "recall") and tickets:
            ticket = rng.choice(tickets)
            (venue.bump if kind == "bump" else venue.recall)(COOK, ticket.id, now)
        elif kind == "stop":
            venue.set_stop(COOK, rng.choice(PRODUCTS), rng.random() < 0.3, now)
        else:  # a kds may not write money records: refused before anything is written
            orders = [o for ledger in venue.ledgers() for o in ledger.orders()]
            try:
                if orders:
                    venue.pay(CASHIER, rng.choice(orders).id, "cash", now)
                else:
                    venue.open_shift_now(CASHIER, 100, now)
            except PermissionDenied:
                pass
            else:
                raise AssertionError("a kds wrote a money record")
            raise PermissionDenied("refused, as it must be")

    def _operate(self, name: str, rng: random.Random, acked: Acked) -> bool:
        """One operation on ``name`` (not yet committed); False if the domain refused it."""
        node = self.nodes[name]
        for doc in (LEDGER, KITCHEN):  # a closed day loads on demand
            self._reopen(name, doc)
        self.net.pump(name)  # (commits what the peers had parked for it)
        node.replica.take_updates()  # received so far (committed already)
        self.clock += 1
        now = NOW + self.clock * 1000
        try:
            if node.role == "register":
                self._register_op(node.venue, rng, now, acked)
            else:
                self._kds_op(node.venue, rng, now)
        except DomainError:
            assert node.replica.take_updates() == [], "a refused operation must write nothing"
            FIGURES["refused"] += 1
            return False
        for captured in node.replica.take_updates():
            assert captured.local
            assert captured.document in node.sync.docs, "written before the sync opened it"
        FIGURES["operations"] += 1
        return True

    @rule(seed=st.integers(0, 2**32 - 1), count=st.integers(1, 8))
    def operate(self, seed: int, count: int) -> None:
        """A burst of operations on random nodes, each acknowledged once committed."""
        self._begin(f"operate(seed={seed}, count={count})")
        rng = random.Random(seed)
        for _ in range(count):
            name = rng.choice(self.names)
            acked = Acked()
            if self._operate(name, rng, acked):
                self.net.pump(name)  # commits (the listener), then sends
                for kind in MONEY:
                    getattr(self.acked, kind).update(getattr(acked, kind))  # only now
                self._record(name, acked, "acked")
            self.net.advance(rng.choice([0.0, 0.01, 0.1]) or 0.001, step=0.01)
        self.busy = None

    @rule()
    def kds_forges_a_ledger_write(self) -> None:
        node = self.nodes.get("K1")
        if node is None:
            return
        self._begin("kds_forges_a_ledger_write()")
        self._reopen("K1", LEDGER)
        self.net.pump("K1")
        move = self._new_id()
        node.venue.ledger(DATE).write(
            "cash_moves",
            move,
            {
                "shift_id": "forged",
                "kind": "in",
                "amount": 1,
                "reason": "x",
                "user": COOK,
                "at": NOW,
            },
        )
        refused = node.sync.events_received()
        assert any(isinstance(e, LocalWriteRefused) for e in refused)
        for event in refused:
            self._on_event("K1", event)  # the kds keeps its own (refused) write; it never leaves
        self.net.pump("K1")
        self.forged.add(move)
        self.forgers.add(node.replica.client_id)
        self.written[move] = Written(
            "cash_moves", "K1", node.replica.client_id, "forged by a kds (refused)", len(self.steps)
        )
        self.busy = None

    # --- the network and the machines -------------------------------------------------------------

    @rule(duration=st.floats(0.05, 3.0))
    def time_passes(self, duration: float) -> None:
        self._begin(f"time_passes(duration={duration!r})")
        self.net.advance(duration, step=0.1)
        self.busy = None

    @rule(data=st.data())
    def partition(self, data: st.DataObject) -> None:
        sides = data.draw(
            st.lists(st.booleans(), min_size=len(self.names), max_size=len(self.names))
        )
        one = [n for n, s in zip(self.names, sides, strict=True) if s]
        other = [n for n, s in zip(self.names, sides, strict=True) if not s]
        self._begin(f"partition({one}, {other})")
        self.net.partition(one, other)
        FIGURES["partitions"] += 1
        self.busy = None

    @rule()
    def heal(self) -> None:
        self._begin("heal()")
        self.net.heal()
        self.busy = None

    @rule(
        drop=st.sampled_from([0.0, 0.05, 0.3]),
        duplicate=st.sampled_from([0.0, 0.1]),
        reorder=st.sampled_from([0.0, 0.2]),
    )
    def set_faults(self, drop: float, duplicate: float, reorder: float) -> None:
        self._begin(f"set_faults(drop={drop}, duplicate={duplicate}, reorder={reorder})")
        self.net.faults = Faults(drop=drop, duplicate=duplicate, reorder=reorder)
        self.busy = None

    @rule(data=st.data(), seed=st.integers(0, 2**32 - 1))
    def crash_and_restart(self, data: st.DataObject, seed: int) -> None:
        # Draw everything first: a draw that overruns ends the run inside this rule, and a write made
        # before it would then live on (and spread) without ever being acknowledged.
        name = data.draw(st.sampled_from(self.names))
        write = data.draw(st.booleans())  # it dies after a write and before its commit: never acked
        notify_peers = data.draw(st.booleans())
        self._begin(f"crash_and_restart({name!r}, write={write}, notify_peers={notify_peers})")
        if write:
            unacked = Acked()
            self._operate(name, random.Random(seed), unacked)
            self._record(name, unacked, "crashed before commit")
        self._crash(name, notify_peers=notify_peers)
        self._start(name)
        FIGURES["restarts"] += 1
        self.busy = None

    @rule(data=st.data())
    def close_the_day(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self.names))
        self._begin(f"close_the_day({name!r})")
        self._close(name)
        self.busy = None

    @invariant()
    def forged_records_stay_on_the_kds(self) -> None:
        for node in self.nodes.values():
            if node.role == "register" and self.forged and not node.sync.is_closed(LEDGER):
                moves = node.replica.doc(LEDGER).get("cash_moves", type=Map)
                assert not any(m in moves for m in self.forged)

    @invariant()
    def no_device_is_counted_for_more_than_it_committed(self) -> None:
        """What a node takes a peer to hold (``held_by``: the peer's step 1s and, on the topology,
        the attestations passed along it, sync/_held.py), the durability count's "on k devices",
        is in that peer's store: never a device counted for a receipt it has not committed."""
        stored: dict[str, dict[int, int]] = {}
        for name in self.nodes:
            update = self._run(self.stores[name].load(LEDGER))
            fresh: Doc[Any] = Doc()
            if update:
                fresh.apply_update(update)
            stored[name] = decode_state_vector(fresh.get_state())
        for name, node in self.nodes.items():
            if LEDGER not in node.sync.docs:
                continue
            for peer, held in node.sync.held_by(LEDGER).items():
                if peer not in stored:
                    continue  # (the console, or a device of no node here)
                over = {c: k for c, k in held.items() if k > stored[peer].get(c, 0)}
                assert not over, f"{name} takes {peer} to hold {over}, its store has {stored[peer]}"

    @invariant()
    def own_writes_are_stored(self) -> None:
        """Every change a node made itself is in its store: loading the store into a fresh document
        gives the node's own client the clock its live document has (else a restart, or a closed day
        reopened from the store, loses acknowledged writes)."""
        for name, node in self.nodes.items():
            for doc_name, doc in node.sync.docs.items():
                live = decode_state_vector(doc.get_state()).get(node.sync.client_id, 0)
                update = self._run(self.stores[name].load(doc_name))
                fresh: Doc[Any] = Doc()
                if update:
                    fresh.apply_update(update)
                stored = decode_state_vector(fresh.get_state()).get(node.sync.client_id, 0)
                assert stored >= live, (
                    f"{name}: {doc_name} holds its own client's changes up to clock {live}, "
                    f"its store only up to {stored}"
                )

    # --- after healing ----------------------------------------------------------------------------

    def _snapshot(self, node: Node) -> dict[str, object]:
        """Documents (state vectors) and everything derived from them, minus a kds's own forgeries."""
        out: dict[str, object] = {}
        for name in node.replica.names():
            sv = decode_state_vector(node.replica.doc(name).get_state())
            out[name] = {c: k for c, k in sv.items() if c not in self.forgers}
        for ledger in node.venue.ledgers():
            out[ledger.name] = (
                out.get(ledger.name),
                ledger.orders(),
                ledger.receipts(),
                ledger.refunds(),
                ledger.shifts(),
                [m for m in ledger.cash_moves() if m.id not in self.forged],
                ledger.inventory(),
                ledger.conflicts(),
                [ledger.cash_flow(s.id) for s in ledger.shifts()],
            )
        out["kitchen"] = node.venue.kitchen(DATE).tickets()
        out["stoplist"] = node.venue.stoplist.current()
        return out

    def teardown(self) -> None:
        try:
            if self.names:
                self._final_check()
        finally:
            self.loop.close()

    def _final_check(self) -> None:
        problems = self._check_converged()
        if problems:
            report = self._report(problems)
            FAILURES.append(report)  # reported by the test even if hypothesis drops this run
            raise AssertionError(report)

    def _held(self, node: Node) -> dict[str, list[str]]:
        """The money record ids of ``node``'s ledger (a list: a duplicate would show twice)."""
        ledger = node.venue.ledger(DATE)
        return {
            "payments": [p.id for p in ledger.payments()],
            "receipts": [r.id for r in ledger.receipts()],
            "refunds": [r.id for r in ledger.refunds()],
            "shifts": [s.id for s in ledger.shifts()],
            "cash_moves": [m.id for m in ledger.cash_moves()],
        }

    def _describe(self, kind: str, record: str) -> str:
        """One offending record: kind, id, where it came from and which nodes hold it now."""
        w = self.written.get(record)
        origin = (
            f"written on {w.node} (client {w.client_id}) at step {w.step}, {w.status}"
            if w is not None
            else "written by no recorded operation"
        )
        holders = [n for n in self.names if record in self._held(self.nodes[n])[kind]]
        acked = record in getattr(self.acked, kind)
        return (
            f"{kind} {record}: {origin}; acked={acked}, forged={record in self.forged}, "
            f"held by {holders or 'no node'}"
        )

    def _differences(self, name: str, snapshot: dict[str, object], ref: dict[str, object]) -> str:
        keys = sorted(k for k in snapshot.keys() | ref.keys() if snapshot.get(k) != ref.get(k))
        lines = [f"{name} differs from {self.names[0]} in {keys}"]
        mine, theirs = self._held(self.nodes[name]), self._held(self.nodes[self.names[0]])
        for kind in MONEY:
            for record in sorted((set(mine[kind]) ^ set(theirs[kind])) - self.forged):
                lines.append("    " + self._describe(kind, record))
        return "\n".join(lines)

    def _check_converged(self) -> list[str]:
        """Heal, settle, then everything the module docstring promises; returns what failed."""
        problems: list[str] = []
        self.net.heal()
        self.net.faults = Faults()
        for name in self.names:  # the days are read: every closed copy loads
            for doc in (LEDGER, KITCHEN):
                self._reopen(name, doc)
        self.net.advance(4 * CONFIG.anti_entropy_interval, step=0.1)
        snapshots = {name: self._snapshot(self.nodes[name]) for name in self.names}
        reference = snapshots[self.names[0]]
        differing = [name for name, s in snapshots.items() if s != reference]
        problems += [self._differences(n, snapshots[n], reference) for n in differing]
        for name in self.names:  # the invariant, once more after the final settling
            if self.nodes[name].role == "register":
                leaked = sorted(set(self._held(self.nodes[name])["cash_moves"]) & self.forged)
                problems += [
                    f"forged, on {name}: {self._describe('cash_moves', m)}" for m in leaked
                ]
        # the store holds what memory holds: a node restarted now comes back identical
        for name in self.names:
            before = snapshots[name]
            self._crash(name, notify_peers=False)
            after = self._snapshot(self._start(name))
            if after != before:
                keys = sorted(
                    k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
                )
                problems.append(f"{name}: store lags memory in {keys}")
        held = self._held(self.nodes[self.names[0]])
        lost = duplicated = 0
        for kind, ids in held.items():
            acked: set[str] = getattr(self.acked, kind)
            missing = sorted(acked - set(ids))
            twice = sorted({i for i in ids if ids.count(i) > 1})
            unacked = sorted(set(ids) - acked)
            lost += len(missing)
            duplicated += len(ids) - len(set(ids)) + len(unacked)
            problems += [f"lost: {self._describe(kind, i)}" for i in missing]
            problems += [f"held twice: {self._describe(kind, i)}" for i in twice]
            problems += [f"never acknowledged: {self._describe(kind, i)}" for i in unacked]
        ledger = self.nodes[self.names[0]].venue.ledger(DATE)
        numbers = [r.number for r in ledger.receipts()]
        if len(set(numbers)) != len(numbers):
            problems.append(f"receipt numbers collided: {sorted(numbers)}")
        for order in ledger.orders():  # derived totals agree with the records they come from
            if order.totals.paid != sum(p.amount for p in order.payments):
                problems.append(f"order {order.id}: paid {order.totals.paid} != its payments")
        s = self.net.stats
        FIGURES["acked"] += self.acked.count()
        FIGURES["diverged"] += len(differing)
        FIGURES["lost"] += lost
        FIGURES["duplicated"] += duplicated
        FIGURES["deliveries"] += s.delivered
        FIGURES["drops"] += s.dropped
        FIGURES["duplicates"] += s.duplicated
        FIGURES["reordered"] += s.reordered
        return problems

    def _report(self, problems: list[str]) -> str:
        lines = [f"mesh {self.names} did not converge ({len(problems)} problems):"]
        lines += [f"  - {p}" for p in problems]
        if self.busy is not None:
            lines.append(f"  the run was cut short inside: {self.busy}")
        lines.append(f"  forger client ids: {sorted(self.forgers)}")
        lines += ["  rejections:"] + [f"    {r}" for r in self.rejections[-20:]]
        lines += ["  steps:"] + [f"    {i}. {step}" for i, step in enumerate(self.steps)]
        return "\n".join(lines)


def test_replicas_converge_after_faults_partitions_and_restarts() -> None:
    FAILURES.clear()
    run_state_machine_as_test(
        Mesh,
        settings=settings(
            max_examples=100,
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    print("\nsync stateful figures: " + ", ".join(f"{k}={v}" for k, v in FIGURES.items()))
    shown = "\n\n".join(FAILURES[:3])  # the first few: each names its records and steps
    assert not FAILURES, f"{len(FAILURES)} runs failed their final checks, first ones:\n\n{shown}"
    assert FIGURES["runs"] >= 1
    assert FIGURES["days_closed"] >= 1
    assert FIGURES["days_reopened"] >= 1
    assert FIGURES["diverged"] == FIGURES["lost"] == FIGURES["duplicated"] == 0
