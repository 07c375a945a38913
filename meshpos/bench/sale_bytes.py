"""What one sale writes, byte by byte: ``python -m meshpos.bench.sale_bytes [--json]``.

``meshpos bench mesh`` counts wire bytes per receipt: every update a sale makes, sent once to every
other device (by forwarding), plus anti-entropy and heartbeats. The update part is what the model
writes, so this measures it without a network: the bench's sale (``mesh_worker``: open an order, two
lines, pay the lot by card) on one register, each tap's updates as they would go on the wire (a sync
update message: the envelope, the document's name, the Yjs update), and what is in them: the record
texts written (the JSON of each record and its key), how much of that is record ids, and the rest
(Yjs struct headers, client ids and clocks, parents, deletions). docs/benchmarks.md (sale bytes).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import Any

from pycrdt import Doc, Map

from meshpos.model import Replica, Venue
from meshpos.model.ids import RECORD_ID_CHARS
from meshpos.model.sample import CASHIER, sample_catalog
from meshpos.sync._codec import encode
from meshpos.sync._messages import SyncUpdate

NOW = 1_764_064_800_000  # a fixed moment: the same day every run
PRODUCTS = ("espresso", "croissant", "burger", "fries", "lemonade")  # as mesh_worker sells
DEVICES = 6  # the bench's mesh: each update goes to the 5 other devices

# a record id as the model makes them: a uuid (older) or a short url-safe token (model.ids)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TOKEN = re.compile(rf"(?<![0-9a-z-])[a-z][0-9a-z]{{{RECORD_ID_CHARS - 1}}}(?![0-9a-z-])")


def _flat(doc: Any) -> dict[tuple[str, ...], str]:
    """Every key path of the document's maps (root first) -> its value's JSON text, nested maps walked."""
    out: dict[tuple[str, ...], str] = {}

    def walk(prefix: tuple[str, ...], m: Any) -> None:
        for key, value in m.items():
            if isinstance(value, Map):
                walk((*prefix, key), value)
            else:
                out[(*prefix, key)] = value if isinstance(value, str) else json.dumps(value)

    for root in list(doc.keys()):  # a pycrdt Doc is no dict
        walk((root,), doc.get(root, type=Map))
    return out


def _fresh_keys(old: dict[tuple[str, ...], str], new: dict[tuple[str, ...], str]) -> list[str]:
    """The map keys the write added, each once (a new order's id and its ``info``; ``lines/<id>``)."""
    known = {path[:i] for path in old for i in range(1, len(path) + 1)}
    fresh: dict[tuple[str, ...], None] = {}
    for path in new:
        for i in range(2, len(path) + 1):
            if path[:i] not in known:
                fresh.setdefault(path[:i])
    return [path[-1] for path in fresh]


def _ids(text: str) -> int:
    """Characters of ``text`` that are record ids (uuids, or ``model.ids`` tokens)."""
    return sum(len(m) for m in _UUID.findall(text)) + sum(len(m) for m in _TOKEN.findall(text))


def _unchanged_writes(before: bytes, roots: list[str], update: bytes) -> int:
    """How many map keys ``update`` sets to the value they already held (on a copy of the document
    as it was before: ``before``, its whole state): bytes sent, and a tombstone kept, for nothing."""
    doc: Doc[Any] = Doc()
    doc.apply_update(before)
    seen: list[Any] = []
    subscriptions = [doc.get(root, type=Map).observe_deep(seen.extend) for root in roots]
    doc.apply_update(update)
    del subscriptions
    return sum(
        1
        for event in seen
        for change in getattr(event, "keys", {}).values()
        if change.get("action") == "update" and change.get("oldValue") == change.get("newValue")
    )


def sale_taps(venue: Venue, k: int) -> list[tuple[str, Callable[[], object]]]:
    """The bench's sale ``k`` as its four taps (each one durable write on a node)."""
    made: dict[str, str] = {}

    def open_order() -> object:
        order = venue.open_order(CASHIER, NOW + k, table=f"T{k % 20}")
        made["order"] = order.id
        return order

    def line(product: str, quantity: int) -> Callable[[], object]:
        return lambda: venue.add_line(CASHIER, made["order"], product, quantity, NOW + k)

    return [
        ("open order", open_order),
        ("line 1", line(PRODUCTS[k % len(PRODUCTS)], 1 + k % 2)),
        ("line 2", line(PRODUCTS[(k + 2) % len(PRODUCTS)], 1)),
        ("pay by card", lambda: venue.pay(CASHIER, made["order"], "card", NOW + k)),
    ]


def measure(sales: int = 3) -> dict[str, Any]:
    """The last of ``sales`` sales (the first ones make the day's shift and first marks), tap by tap."""
    venue = Venue(Replica(client_id=1111), device="R1", role="register")
    sample_catalog(venue.catalog, pin_hash="x")
    venue.open_shift_now(CASHIER, 10_000, NOW)
    taps: list[dict[str, Any]] = []
    for k in range(sales):
        taps = []
        venue.replica.take_updates()
        for name, tap in sale_taps(venue, k):
            before = {n: _flat(venue.replica.doc(n)) for n in venue.replica.names()}
            states = {n: venue.replica.doc(n).get_update() for n in venue.replica.names()}
            tap()
            for captured in venue.replica.take_updates():
                doc = venue.replica.doc(captured.document)
                old = before.get(captured.document, {})
                new = {p: v for p, v in _flat(doc).items() if old.get(p) != v}
                fresh = _fresh_keys(old, new)
                keys = sum(len(key) for key in fresh)
                values = sum(len(v.encode()) for v in new.values())
                message = encode(SyncUpdate(captured.document, captured.update))
                roots = list(doc.keys())
                state = states.get(captured.document) or Doc().get_update()
                taps.append(
                    {
                        "tap": name,
                        "document": captured.document,
                        "message_bytes": len(message),
                        "update_bytes": len(captured.update),
                        "keys_bytes": keys,
                        "values_bytes": values,
                        "id_chars": sum(_ids(key) for key in fresh)
                        + sum(_ids(v) for v in new.values()),
                        "yjs_bytes": len(captured.update) - keys - values,
                        "envelope_bytes": len(message) - len(captured.update),
                        "unchanged_writes": _unchanged_writes(state, roots, captured.update),
                        "written": {"/".join(p): v for p, v in new.items()},
                    }
                )
    per_sale = sum(t["message_bytes"] for t in taps)
    return {
        "message_bytes_per_sale": per_sale,
        "update_messages_per_sale": len(taps),
        "wire_update_bytes_per_receipt": per_sale * (DEVICES - 1),
        "id_chars_per_sale": sum(t["id_chars"] for t in taps),
        "values_bytes_per_sale": sum(t["values_bytes"] for t in taps),
        "keys_bytes_per_sale": sum(t["keys_bytes"] for t in taps),
        "yjs_bytes_per_sale": sum(t["yjs_bytes"] for t in taps),
        "envelope_bytes_per_sale": sum(t["envelope_bytes"] for t in taps),
        "unchanged_writes_per_sale": sum(t["unchanged_writes"] for t in taps),
        "taps": taps,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshpos.bench.sale_bytes", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    report = measure()
    if args.json:
        print(json.dumps(report))
        return 0
    for t in report["taps"]:
        print(
            f"{t['tap']:12s} {t['document']:20s} {t['message_bytes']:5d} B "
            f"(values {t['values_bytes']}, keys {t['keys_bytes']}, yjs {t['yjs_bytes']}, "
            f"envelope {t['envelope_bytes']}, unchanged writes {t['unchanged_writes']}, "
            f"ids {t['id_chars']})"
        )
        for path, value in t["written"].items():
            print(f"    {path}: {value}")
    for key, value in report.items():
        if key != "taps":
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
