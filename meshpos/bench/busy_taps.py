"""What a seller's tap costs while other registers' sales land in the day between its taps:
``python -m meshpos.bench.busy_taps [--sales N] [--peers P] [--between K] [--json]``.

Issue 18 (part ``order``): under load (``meshpos bench mesh --rate 100``: six registers' receipts in
one day document) every change to the day dropped the seller's kept order parse, so each tap read its
order's text, decoded it and looked its parse up again. This probe is that alone, in one process, on
the model (no engine, store, links or TLS): register R1 sells ``--sales`` sales (open an order, two
lines, pay by card: ``mesh_worker``'s sale), and before each of its taps the updates of ``--between``
sales of ``--peers`` other registers (sold beforehand, each tap its own update, as a peer's engine
writes them) are applied to R1's day, as its synchronizer would between two taps.

Figures, per tap of R1 (four a sale) and per applied update: Python calls (cProfile's count of
function calls, a second pass: load-independent), CPU µs (``time.thread_time``, the first pass without
the profiler; it moves with the machine's load) and R1's reads of its own order's text
(``order_text_reads_per_sale``) and parses of it (``order_parses_per_sale``): deterministic.

``--tables T`` also leaves T orders of two lines open on R1 (tables not paid yet) and, after the
updates applied before each tap, reads every one of them again as the pages' index does when asked
after any change to the day (``day_index._catch_up``: the open orders are read again):
``reread_calls`` and ``reread_us`` per such read of all T. docs/benchmarks.md (busy taps).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import meshpos.model._order_kept as order_kept
from meshpos.bench.mesh_parts import NOW, PRODUCTS
from meshpos.bench.report import print_report
from meshpos.model import Replica, Venue
from meshpos.model.documents import CATALOG, ledger_name
from meshpos.model.records import ORDERS
from meshpos.model.sample import CASHIER, sample_catalog

STEPS = 4  # a sale's taps: open an order, two lines, pay


def _register(device: str, catalog: bytes | None) -> Venue:
    replica = Replica()
    venue = Venue(replica, device=device)
    if catalog is None:
        sample_catalog(venue.catalog, pin_hash="x")
    else:
        replica.apply(CATALOG, catalog)
    venue.open_shift_now(CASHIER, 0, NOW)
    return venue


def _sale(venue: Venue, k: int, now: int) -> Iterator[None]:
    """Sale ``k`` on ``venue``, one tap per step (a generator: the caller runs each)."""
    order = venue.open_order(CASHIER, now, table=f"T{k % 20}")
    yield
    venue.add_line(CASHIER, order.id, PRODUCTS[k % len(PRODUCTS)], 1 + k % 2, now)
    yield
    venue.add_line(CASHIER, order.id, PRODUCTS[(k + 2) % len(PRODUCTS)], 1, now)
    yield
    venue.pay(CASHIER, order.id, "card", now)
    yield


def _peer_updates(catalog: bytes, peers: int, sales: int) -> list[list[bytes]]:
    """The day's updates of ``sales`` sales by ``peers`` registers in turn, per sale (one per tap;
    the first holds each peer's shift)."""
    registers = [_register(f"R{p + 2}", catalog) for p in range(peers)]
    name = ledger_name(registers[0].business_date(NOW))
    out: list[list[bytes]] = []
    for k in range(sales):
        venue = registers[k % peers]
        for _ in _sale(venue, k, NOW + k):
            pass
        out.append([u.update for u in venue.replica.take_updates() if u.document == name])
    return out


@contextmanager
def _counting(reads: list[str], parses: list[str]) -> Iterator[None]:
    """Count ``_order_kept``'s reads of an order's text and its parses, by order id."""
    kept_order, parse_order = getattr(order_kept, "kept_order"), getattr(order_kept, "parse_order")  # noqa: B009

    def read(where: str, *args: Any, **kw: Any) -> Any:
        reads.append(where.rsplit("/", 1)[1])
        return kept_order(where, *args, **kw)

    def parse(order_id: str, *args: Any, **kw: Any) -> Any:
        parses.append(order_id)
        return parse_order(order_id, *args, **kw)

    setattr(order_kept, "kept_order", read)  # noqa: B010
    setattr(order_kept, "parse_order", parse)  # noqa: B010
    try:
        yield
    finally:
        setattr(order_kept, "kept_order", kept_order)  # noqa: B010
        setattr(order_kept, "parse_order", parse_order)  # noqa: B010


def _run(sales: int, peers: int, between: int, tables: int, profile: bool) -> dict[str, Any]:
    """One pass: R1's sales with peers' updates applied before each tap; the taps' and the applies'
    cost (CPU seconds, or cProfile's calls when ``profile``) and R1's own order reads and parses."""
    seller = _register("R1", None)
    catalog = seller.replica.doc(CATALOG).get_update()
    name = ledger_name(seller.business_date(NOW))
    incoming = iter(_peer_updates(catalog, peers, sales * STEPS * between + 1))
    for update in next(incoming):  # (the first peers' shifts: the day is busy from the start)
        seller.replica.apply(name, update)
    ledger = seller.ledger(seller.business_date(NOW))
    open_tables = []
    for t in range(tables):
        table = seller.open_order(CASHIER, NOW, table=f"table {t}").id
        seller.add_line(CASHIER, table, PRODUCTS[t % len(PRODUCTS)], 1, NOW)
        seller.add_line(CASHIER, table, PRODUCTS[(t + 1) % len(PRODUCTS)], 2, NOW)
        open_tables.append(table)
    seller.replica.take_updates()
    taps: list[float] = []
    applies: list[float] = []
    rereads: list[float] = []
    reads: list[str] = []
    parses: list[str] = []
    mine: set[str] = set()

    def cost(fn: Callable[[], Any], into: list[float]) -> None:
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            fn()
            profiler.disable()
            into.append(pstats.Stats(profiler).total_calls)  # type: ignore[attr-defined]
        else:
            started = time.thread_time()
            fn()
            into.append(time.thread_time() - started)

    with _counting(reads, parses):
        for k in range(sales):
            sale = _sale(seller, k, NOW + k)
            for _ in range(STEPS):
                for _ in range(between):
                    for update in next(incoming):
                        cost(partial(seller.replica.apply, name, update), applies)
                seller.replica.take_updates()
                if open_tables:
                    cost(partial(ledger.records_of, ORDERS, open_tables), rereads)
                cost(partial(next, sale), taps)
            mine.update(seller.ledger(seller.business_date(NOW)).order_ids())
    own = set(reads) | set(parses)
    ours = {o for o in own if o in mine and o not in open_tables and _seller_of(seller, o) == "R1"}
    return {
        "taps": taps,
        "applies": applies,
        "rereads": rereads,
        "reads": sum(1 for o in reads if o in ours) / sales,
        "parses": sum(1 for o in parses if o in ours) / sales,
    }


def _seller_of(venue: Venue, order_id: str) -> str:
    return venue.order(order_id).register


def _half(values: list[float]) -> list[float]:
    """The second half (the day already busy), sorted."""
    return sorted(values[len(values) // 2 :])


def _median(values: list[float]) -> float:
    return values[len(values) // 2] if values else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshpos.bench.busy_taps")
    parser.add_argument("--sales", type=int, default=100, help="R1's sales (default 100)")
    parser.add_argument("--peers", type=int, default=5, help="other registers (default 5)")
    parser.add_argument(
        "--between", type=int, default=1, help="peers' sales applied before each tap (default 1)"
    )
    parser.add_argument(
        "--tables", type=int, default=0, help="R1's orders left open, read again (default 0)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    sales, peers, between = max(2, args.sales), max(1, args.peers), max(0, args.between)
    tables = max(0, args.tables)
    timed = _run(sales, peers, between, tables, profile=False)
    counted = _run(sales, peers, between, tables, profile=True)
    taps, applies = _half(counted["taps"]), _half(counted["applies"])
    report: dict[str, Any] = {
        "sales": sales,
        "peers": peers,
        "between": between,
        "tap_calls": round(sum(taps) / max(1, len(taps)), 1),
        "sale_calls": round(sum(taps) / max(1, len(taps)) * STEPS, 1),
        "apply_calls": round(sum(applies) / max(1, len(applies)), 1),
        "tap_us_median": round(_median(_half(timed["taps"])) * 1e6, 1),
        "tap_us_mean": round(sum(timed["taps"]) / len(timed["taps"]) * 1e6, 1),
        "apply_us_median": round(_median(_half(timed["applies"])) * 1e6, 1),
        "order_text_reads_per_sale": timed["reads"],
        "order_parses_per_sale": timed["parses"],
    }
    if tables:
        rereads = _half(counted["rereads"])
        report["tables"] = tables
        report["reread_calls"] = round(sum(rereads) / max(1, len(rereads)), 1)
        report["reread_us_median"] = round(_median(_half(timed["rereads"])) * 1e6, 1)
    print_report(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
