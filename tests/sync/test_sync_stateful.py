"""Stateful convergence: 3 to 6 replicas (registers and a kds) on a faulty in-memory network.

Random domain operations, partitions and heals, dropped / duplicated / reordered messages and crash-restarts
from each node's durable update log. After healing, every replica holds identical documents, identical
derived totals, every committed money record exactly once, and nothing else.

Stand-ins (to be swapped for meshpos.model / meshpos.store by the lead): money records are insert-only
uuid-keyed Maps in ``ledger/<date>`` ("payments") and tickets in ``kitchen/<date>``; the durable store is a
per-node list of (document, update) appended on every ``DocumentChanged`` event, the same contract as
``Store.append`` (committed before forwarding, since the network drains events before outgoing data).
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from pycrdt import Map, merge_updates

from meshpos.sync import (
    DocumentChanged,
    SessionConfig,
    SyncConfig,
    SyncEvent,
    Synchronizer,
    UpdateRejected,
)
from meshpos.sync.memory import Faults, MemoryNetwork

from .helpers import VENUE

LEDGER = "ledger/2026-11-01"
KITCHEN = "kitchen/2026-11-01"
CONFIG = SyncConfig(
    heartbeat_interval=1.0,
    anti_entropy_interval=3.0,
    session=SessionConfig(max_message_size=4096, idle_timeout=4.0, hello_timeout=4.0),
)
FIGURES = {
    "runs": 0,
    "operations": 0,
    "deliveries": 0,
    "drops": 0,
    "duplicates": 0,
    "reordered": 0,
    "restarts": 0,
    "partitions": 0,
    "diverged": 0,
    "lost": 0,
    "duplicated": 0,
    "rejected": 0,
}


class Mesh(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rng = random.Random(0)
        self.net = MemoryNetwork(self.rng, faults=Faults(), listener=self._on_event)
        self.durable: dict[str, list[tuple[str, bytes]]] = {}
        self.committed: dict[
            str, int
        ] = {}  # payment id -> amount (cents), every write that returned
        self.tickets: set[str] = set()
        self.names: list[str] = []

    def _on_event(self, node: str, event: SyncEvent) -> None:
        if isinstance(event, DocumentChanged):
            self.durable[node].append((event.doc, event.update))
        elif isinstance(event, UpdateRejected):
            FIGURES["rejected"] += 1

    def _start(self, name: str) -> Synchronizer:
        sync = Synchronizer(
            venue=VENUE,
            node_id=name,
            role="kds" if name.startswith("k") else "register",
            client_id=self.rng.randrange(1, 2**53),  # fresh at every start
            config=CONFIG,
        )
        by_doc: dict[str, list[bytes]] = {}
        for doc, update in self.durable[name]:
            by_doc.setdefault(doc, []).append(update)
        for doc, updates in by_doc.items():
            sync.load(doc, merge_updates(*updates))
        for doc in (LEDGER, KITCHEN):
            sync.open_doc(doc)
        self.net.add(sync)
        return sync

    @initialize(registers=st.integers(2, 5), seed=st.integers(0, 2**32 - 1))
    def start(self, registers: int, seed: int) -> None:
        self.rng.seed(seed)
        self.names = [f"r{i}" for i in range(1, registers + 1)] + ["k1"]
        for name in self.names:
            self.durable[name] = []
            self._start(name)
        FIGURES["runs"] += 1

    # --- domain operations ------------------------------------------------------------------------

    @rule(data=st.data(), amount=st.integers(1, 100_000))
    def take_payment(self, data: st.DataObject, amount: int) -> None:
        live = [n for n in self.names if n.startswith("r") and n in self.net.nodes]
        if not live:
            return
        node = data.draw(st.sampled_from(live))
        pid = str(uuid.UUID(int=self.rng.getrandbits(128)))
        doc = self.net.nodes[node].docs[LEDGER]
        doc.get("payments", type=Map)[pid] = Map({"amount": amount, "by": node})
        self.net.pump(node)  # the write returns once its update is committed
        self.committed[pid] = amount
        FIGURES["operations"] += 1

    @rule(data=st.data())
    def create_or_bump_ticket(self, data: st.DataObject) -> None:
        live = [n for n in self.names if n in self.net.nodes]
        if not live:
            return
        node = data.draw(st.sampled_from(live))
        tickets = self.net.nodes[node].docs[KITCHEN].get("tickets", type=Map)
        if node.startswith("k") and self.tickets:
            tid = data.draw(st.sampled_from(sorted(self.tickets)))
            tickets[f"{tid}/bump/{self.rng.getrandbits(32)}"] = node
        else:
            tid = str(uuid.UUID(int=self.rng.getrandbits(128)))
            tickets[tid] = Map({"by": node})
            self.tickets.add(tid)
        self.net.pump(node)
        FIGURES["operations"] += 1

    @rule()
    def kds_tries_to_write_the_ledger(self) -> None:
        sync = self.net.nodes.get("k1")
        if sync is None:
            return
        sync.docs[LEDGER].get("payments", type=Map)["forged"] = Map({"amount": 1})
        self.net.pump("k1")
        FIGURES["operations"] += 1

    # --- the network and the machines -------------------------------------------------------------

    @rule(duration=st.floats(0.05, 3.0))
    def time_passes(self, duration: float) -> None:
        self.net.advance(duration, step=0.1)

    @rule(data=st.data())
    def partition(self, data: st.DataObject) -> None:
        sides = data.draw(
            st.lists(st.booleans(), min_size=len(self.names), max_size=len(self.names))
        )
        self.net.partition(
            [n for n, s in zip(self.names, sides, strict=True) if s],
            [n for n, s in zip(self.names, sides, strict=True) if not s],
        )
        FIGURES["partitions"] += 1

    @rule()
    def heal(self) -> None:
        self.net.heal()

    @rule(
        drop=st.sampled_from([0.0, 0.05, 0.3]),
        duplicate=st.sampled_from([0.0, 0.1]),
        reorder=st.sampled_from([0.0, 0.2]),
    )
    def set_faults(self, drop: float, duplicate: float, reorder: float) -> None:
        self.net.faults = Faults(drop=drop, duplicate=duplicate, reorder=reorder)

    @rule(data=st.data())
    def crash_and_restart(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(self.names))
        if node in self.net.nodes:
            self.net.crash(node, notify_peers=data.draw(st.booleans()))
        self._start(node)
        FIGURES["restarts"] += 1

    @invariant()
    def no_forged_record_anywhere(self) -> None:
        for name, sync in self.net.nodes.items():
            if name.startswith("r"):
                assert "forged" not in sync.docs[LEDGER].get("payments", type=Map)

    def teardown(self) -> None:
        if not self.names:
            return
        self.net.heal()
        self.net.faults = Faults()
        self.net.advance(15.0, step=0.1)
        views: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for name in self.names:
            sync = self.net.nodes[name]
            payments = sync.docs[LEDGER].get("payments", type=Map).to_py() or {}
            if name.startswith("k"):
                payments.pop("forged", None)  # the kds's own refused local write stays local
            views.append((payments, sync.docs[KITCHEN].get("tickets", type=Map).to_py() or {}))
        reference = views[0]
        diverged = sum(1 for v in views if v != reference)
        payments = reference[0]
        lost = len(set(self.committed) - set(payments))
        extra = len(set(payments) - set(self.committed))
        totals = {sum(int(r["amount"]) for r in v[0].values()) for v in views}
        FIGURES["diverged"] += diverged
        FIGURES["lost"] += lost
        FIGURES["duplicated"] += extra
        s = self.net.stats
        FIGURES["deliveries"] += s.delivered
        FIGURES["drops"] += s.dropped
        FIGURES["duplicates"] += s.duplicated
        FIGURES["reordered"] += s.reordered
        assert diverged == 0, f"{diverged} replicas differ from {self.names[0]}"
        assert lost == 0, f"lost {lost} committed payments"
        assert extra == 0, f"{extra} payments nobody committed"
        assert totals == {sum(self.committed.values())}
        assert {t for t in reference[1] if "/" not in t} == self.tickets


def test_replicas_converge_after_faults_partitions_and_restarts() -> None:
    run_state_machine_as_test(
        Mesh,
        settings=settings(
            max_examples=25,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    print("\nsync stateful figures: " + ", ".join(f"{k}={v}" for k, v in FIGURES.items()))
    assert FIGURES["runs"] >= 1
    assert FIGURES["diverged"] == FIGURES["lost"] == FIGURES["duplicated"] == 0
