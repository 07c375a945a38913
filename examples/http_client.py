"""A register app that speaks only HTTP and JSON to a node: catalog, shift, order, payment, receipt, errors.

Run it as it is: ``.venv/bin/python examples/http_client.py``. It sets up a throwaway venue (a temporary
directory, removed at the end), starts one register as a ``python -m meshpos node --config ...`` subprocess
on a loopback address of its own (127.x.y.N, so its mDNS stays on loopback), and then talks to that node's
JSON API like any other program would: ``urllib`` and ``json`` from the standard library, a bearer token,
and nothing from meshpos. The API is described by ``GET /api/openapi.json``.

``--api http://127.0.0.1:PORT --token TOKEN`` runs the same client against a node that is already running
(its URL is in ``<data_dir>/api.url``, its token in ``<data_dir>/api.token``). On such a node the client
uses an open shift if there is one and leaves it open; otherwise it opens one and closes it again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# --- the client: standard library only ------------------------------------------------------------


class ApiError(Exception):
    """An error answer: ``{"error": {"code", "message"}}`` with its HTTP status."""

    def __init__(self, status: int, body: Any) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        self.status = status
        self.code = str(error.get("code", "?"))
        self.message = str(error.get("message", body))
        self.body = body
        super().__init__(f"{status} {self.code}: {self.message}")


class Client:
    def __init__(self, base: str, token: str) -> None:
        self.base = base.rstrip("/")
        self.token = token
        # the node listens on loopback: never send its token through a proxy from the environment
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                parsed: Any = json.loads(raw)
            except ValueError:
                parsed = raw.decode(errors="replace")
            raise ApiError(exc.code, parsed) from None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.call("POST", path, body)


def money(cents: int, currency: str) -> str:
    return f"{cents / 100:.2f} {currency}"


def pick_modifiers(product: dict[str, Any], groups: dict[str, dict[str, Any]]) -> list[str]:
    """What a product grid would preselect: each group's first choices, one at least if allowed."""
    chosen: list[str] = []
    for group_id in product["modifier_groups"]:
        group = groups[group_id]
        count = min(max(group["min_select"], 1), group["max_select"])
        chosen += [m["id"] for m in group["modifiers"][:count]]
    return chosen


def run(client: Client) -> None:
    document = client.get("/api/openapi.json")
    operations = sum(len(ops) for ops in document["paths"].values())
    print(f"API {document['info']['title']} {document['info']['version']}: {operations} operations")

    catalog = client.get("/api/catalog")
    currency = catalog["currency"]
    sellable = [p for p in catalog["products"] if not p["stopped"]]
    print(f"catalog: {len(catalog['products'])} products in {currency}, {len(sellable)} on sale")
    for product in catalog["products"][:4]:
        print(f"  {product['id']:<12} {product['name']:<16} {money(product['price'], currency)}")
    cashier = next(u for u in catalog["users"] if {"sell", "open_shift"} <= set(u["rights"]))
    user = cashier["id"]
    groups = {g["id"]: g for g in catalog["modifier_groups"]}

    current = client.get("/api/shifts/current")
    opened_here = current["shift"] is None
    if opened_here:
        shift = client.post("/api/shifts", {"user": user, "opening_cash": 10_000})
        print(f"shift {shift['id']} opened by {cashier['name']}")
    else:
        print(f"using the open shift {current['shift']['id']}")

    order = client.post("/api/orders", {"user": user, "table": "7"})
    path = f"/api/orders/{order['id']}"
    with_mods = next((p for p in sellable if p["modifier_groups"]), sellable[0])
    plain = next((p for p in sellable if not p["modifier_groups"]), sellable[-1])
    modifiers = pick_modifiers(with_mods, groups)
    client.post(
        f"{path}/lines",
        {"user": user, "product_id": with_mods["id"], "quantity": 2, "modifiers": modifiers},
    )
    order = client.post(f"{path}/lines", {"user": user, "product_id": plain["id"]})
    print(f"order {order['id']} on table {order['table']}:")
    for line in order["lines"]:
        extras = ", ".join(m["name"] for m in line["modifiers"])
        print(f"  {line['quantity']} x {line['name']}{f' ({extras})' if extras else ''}")
    print(f"  total {money(order['totals']['total'], currency)}")

    try:  # an error answer: the same JSON shape for every error, with a stable code
        client.post(f"{path}/lines", {"user": user, "product_id": "no-such-product"})
    except ApiError as exc:
        print(f"add an unknown product -> HTTP {exc.status} {json.dumps(exc.body)}")
    try:
        Client(client.base, "not-the-token").get("/api/orders")
    except ApiError as exc:
        print(f"a wrong token -> HTTP {exc.status} {exc.code}")

    # the guest hands over the next 10.00 note above the total
    tendered = (order["totals"]["total"] // 1_000 + 1) * 1_000
    paid = client.post(f"{path}/payments", {"user": user, "method": "cash", "tendered": tendered})
    receipt_id = paid["receipt"]["id"]
    print(
        f"paid cash: tendered {money(tendered, currency)}, "
        f"change {money(paid['payment']['change'], currency)}"
    )

    fetched = client.get(f"/api/receipts/{receipt_id}")
    receipt = fetched["receipt"]
    print(
        f"receipt {receipt['number']}: {len(receipt['lines'])} lines, "
        f"total {money(receipt['total'], currency)} (tax {money(receipt['tax'], currency)}), "
        f"{len(fetched['refunds'])} refunds"
    )

    if opened_here:
        expected = client.get("/api/shifts/current")["expected_cash"]
        closed = client.post("/api/shifts/current/close", {"user": user, "counted_cash": expected})
        print(f"shift closed: counted {money(closed['close']['counted_cash'], currency)}")
    status = client.get("/api/status")
    print(f"status: {status['colour']} — {status['message']}")


# --- a throwaway node to talk to: the only part that uses meshpos -------------------------------


@contextlib.contextmanager
def throwaway_node() -> Iterator[tuple[str, str]]:
    """Yield (API URL, token) of a freshly enrolled register running as ``meshpos node``."""
    import asyncio

    from meshpos.harness.venue import catalog_update, make_device, make_venue

    with tempfile.TemporaryDirectory(prefix="meshpos-http-client-") as tmp:
        root = Path(tmp)
        host = f"127.{random.randrange(200, 250)}.{random.randrange(1, 250)}.11"
        authority = make_venue(root, "Example Café")
        config = asyncio.run(
            make_device(authority, root, "R1", host=host, catalog=catalog_update())
        )
        with (root / "node.log").open("w") as log:
            node = subprocess.Popen(
                [sys.executable, "-m", "meshpos", "node", "--config", str(root / "R1.toml")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                url_file = config.data_dir / "api.url"
                deadline = time.monotonic() + 20
                while not url_file.exists():
                    if node.poll() is not None or time.monotonic() > deadline:
                        log.flush()
                        sys.exit(f"the node did not start:\n{(root / 'node.log').read_text()}")
                    time.sleep(0.05)
                url = url_file.read_text().strip()
                token = (config.data_dir / "api.token").read_text().strip()
                print(f"started `meshpos node` (pid {node.pid}) for register R1 at {url}")
                yield url, token
            finally:
                node.terminate()
                try:
                    node.wait(10)
                except subprocess.TimeoutExpired:
                    node.kill()
                    node.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--api", help="a running node's API URL (from <data_dir>/api.url)")
    parser.add_argument("--token", help="its bearer token (from <data_dir>/api.token)")
    args = parser.parse_args()
    if bool(args.api) != bool(args.token):
        parser.error("--api and --token go together")
    try:
        if args.api:
            run(Client(args.api, args.token))
        else:
            with throwaway_node() as (url, token):
                run(Client(url, token))
    except ApiError as exc:
        sys.exit(f"unexpected error answer: {exc}")


if __name__ == "__main__":
    main()
