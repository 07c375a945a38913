"""The two parts of ``meshpos bench mesh``'s CPU per receipt that one process can measure steadily:
``python -m meshpos.bench.mesh_parts [--sales N] [--json]``.

The mesh bench's figure is all processes' CPU over a run, and on a shared, loaded machine it moves by
±20% from run to run: a late loop changes how many messages a read brings, how many updates a commit
groups and, with enough lag, whether links are dropped and re-made (then updates are flooded and
caught up again and the figure triples). These two parts have no network and no timing:

* ``receive_us_per_update``: a register's synchronizer (and its tally, as ``register/status`` keeps one)
  takes a peer's live sale updates of a day already ``--sales`` sales long: decode, checks, apply,
  observers. What each hop of the mesh does per received update, short of its commit and its sockets.
* ``sale_ms``: the model's four steps of the bench's sale (open an order, two lines, pay by card) on a
  register with a tally: reads, checks and writes, short of the commit and the forwarding.

* ``link_us_per_message`` / ``batched``: a flush of one sale's updates (five) sent to a peer one websocket
  message each, or as one batch (``_codec.BATCH``, issue 18): the ``websockets`` library's framing both
  ways (the client's masking included) and the receiving session's decode and checks; per update. Not
  the sockets, nor the apply (``receive_us_per_update``).

Each is CPU time (``time.thread_time``) per unit over the second half of the sales (a day half sold).
The report names the object allocator it ran on: ``meshpos node`` runs on glibc's ``malloc``
(``engine/memory.py``), ~20 % dearer here than pymalloc; run it as ``PYTHONMALLOC=malloc python -m
meshpos.bench.mesh_parts`` for what a node spends.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from websockets.client import ClientProtocol
from websockets.protocol import State as WsState
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from meshpos.bench.report import print_report
from meshpos.model import Replica, Venue
from meshpos.model.documents import CATALOG, ledger_name
from meshpos.model.sample import CASHIER, sample_catalog
from meshpos.model.tally import LedgerTally
from meshpos.sync import Synchronizer
from meshpos.sync._codec import encode
from meshpos.sync._features import BATCH_FEATURE, FEATURES
from meshpos.sync._messages import Hello, SyncUpdate
from meshpos.sync._session import Session

NOW = 1_764_064_800_000  # a fixed moment: the same day every run
PRODUCTS = ("espresso", "croissant", "burger", "fries", "lemonade")
VENUE = "bench-venue"


def _register(client_id: int, device: str) -> Venue:
    venue = Venue(Replica(client_id=client_id), device=device, role="register")
    sample_catalog(venue.catalog, pin_hash="x")
    venue.open_shift_now(CASHIER, 10_000, NOW)
    return venue


def _sell(venue: Venue, k: int) -> None:
    """The bench's sale (``mesh_worker``): an order, two lines, paid by card."""
    order = venue.open_order(CASHIER, NOW + k, table=f"T{k % 20}")
    venue.add_line(CASHIER, order.id, PRODUCTS[k % len(PRODUCTS)], 1 + k % 2, NOW + k)
    venue.add_line(CASHIER, order.id, PRODUCTS[(k + 2) % len(PRODUCTS)], 1, NOW + k)
    venue.pay(CASHIER, order.id, "card", NOW + k)


def _pump(a: Synchronizer, ka: str, b: Synchronizer, kb: str) -> None:
    moved = True
    while moved:
        moved = False
        for src, skey, dst, dkey in ((a, ka, b, kb), (b, kb, a, ka)):
            for data in src.data_to_send(skey):
                moved = True
                if data:
                    dst.receive_data(dkey, data)


def sale_ms(sales: int) -> float:
    venue = _register(1111, "R1")
    date = venue.business_date(NOW)
    tally = LedgerTally(venue.replica.doc(ledger_name(date)))
    half = sales // 2
    for k in range(half):
        _sell(venue, k)
    started = time.thread_time()
    for k in range(half, sales):
        _sell(venue, k)
    spent = time.thread_time() - started
    tally.close()
    return spent / (sales - half) * 1000


def received_receipts(sales: int) -> int:
    """How many receipts the receiver's tally counts after :func:`receive_us_per_update`'s run (all
    of them, or the figure measured something else)."""
    return _receive(sales)[2]


def receive_us_per_update(sales: int) -> tuple[float, int]:
    """CPU per received update and how many updates a sale makes."""
    spent, per_sale, _ = _receive(sales)
    return spent, per_sale


def _receive(sales: int) -> tuple[float, int, int]:
    seller = _register(1111, "R1")
    before = [(c.document, c.update) for c in seller.replica.take_updates()]
    for k in range(sales):
        _sell(seller, k)
    live = [(c.document, c.update) for c in seller.replica.take_updates()]
    a = Synchronizer(venue=VENUE, node_id="R1", role="register", client_id=1111)
    b = Synchronizer(venue=VENUE, node_id="R2", role="register", client_id=2222)
    ka, kb = "R2#bench", "R1#bench"
    a.tick(0.0)
    b.tick(0.0)
    a.connect(ka, features=FEATURES)
    b.connect(kb, features=FEATURES)
    _pump(a, ka, b, kb)
    for (
        name,
        update,
    ) in before:  # the shift: what the day starts from (a register writes no catalog)
        if name != CATALOG:
            b.receive_data(kb, encode(SyncUpdate(name, update)))
    b.events_received()
    tally = LedgerTally(b.open_doc(ledger_name(seller.business_date(NOW))))
    messages = [encode(SyncUpdate(name, update)) for name, update in live]
    half = len(messages) // 2
    for message in messages[:half]:
        b.receive_data(kb, message)
        b.events_received()
    started = time.thread_time()
    for message in messages[half:]:
        b.receive_data(kb, message)
        b.events_received()  # what the node's engine takes after every message
    spent = time.thread_time() - started
    receipts = sum(counts.get("receipts", 0) for counts in tally.counts().values())
    tally.close()
    return spent / (len(messages) - half) * 1e6, round(len(live) / sales), receipts


def link_us_per_message(sales: int, *, batched: bool) -> float:
    """CPU per update of a flush of one sale's updates over a websocket (framing both ways and the
    receiving session; see the module docstring), one message each or as one batch."""
    seller = _register(1111, "R1")
    seller.replica.take_updates()
    _sell(seller, 0)
    flush = [SyncUpdate(c.document, c.update) for c in seller.replica.take_updates()]
    features = FEATURES if batched else FEATURES - {BATCH_FEATURE}
    a = Session(Hello(VENUE, "R1", "register", "bench", 1111), peer_features=features)
    b = Session(Hello(VENUE, "R2", "register", "bench", 2222), peer_features=features)
    for s in (a, b):
        s.open()
        s.tick(0.0)
    for data in a.data_to_send():
        b.receive_data(data)
    for data in b.data_to_send():
        a.receive_data(data)
    client = ClientProtocol(parse_uri("wss://r2/meshpos/v1"), state=WsState.OPEN)
    server = ServerProtocol(state=WsState.OPEN)
    started = time.thread_time()
    for k in range(sales):
        b.tick(k * 0.01)  # (its budget refills as an honest peer's would)
        for message in flush:
            a.send(message)
        for data in a.data_to_send():
            client.send_binary(data)
        server.receive_data(b"".join(client.data_to_send()))
        for event in server.events_received():
            b.receive_data(bytes(getattr(event, "data", b"")))
        b.events_received()
    spent = time.thread_time() - started
    return spent / (sales * len(flush)) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshpos.bench.mesh_parts", description=__doc__)
    parser.add_argument("--sales", type=int, default=1000, help="sales in the day (default 1000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    sales = max(2, args.sales)
    receive, per_sale = receive_us_per_update(sales)
    report: dict[str, Any] = {
        "sales": sales,
        "allocator": os.environ.get("PYTHONMALLOC", "pymalloc"),
        "receive_us_per_update": round(receive, 1),
        "updates_per_sale": per_sale,
        "sale_ms": round(sale_ms(sales), 3),
        "link_us_per_message": round(link_us_per_message(sales, batched=False), 1),
        "link_us_per_message_batched": round(link_us_per_message(sales, batched=True), 1),
    }
    print_report(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
