"""A console-side script: change a price and stop an item, then wait until every register has both.

Run it as it is: ``.venv/bin/python examples/console_edit.py``. It builds a small venue in a temporary
directory (removed at the end): ``meshpos console`` and two registers, each a ``meshpos node`` process on a
loopback address of its own (127.x.y.N, so mDNS stays on loopback). R1 has internet (the console's URL and
the venue token) and becomes the relay; R2 has none, so the console's edits can only reach it through R1.

The script itself speaks HTTP and JSON only (``urllib``): it posts the edits to the console's admin API
(``POST /api/venues/<id>/prices`` and ``.../stoplist``), then polls every register's ``GET /api/catalog``
and ``GET /api/stoplist`` until each shows the new price and the stopped item, and prints how long that took.

Against a venue that is already running::

    console_edit.py --console-api http://127.0.0.1:8781 --admin-token TOKEN --venue VENUE_ID \\
        --register /var/lib/meshpos --register /path/to/R2-data   # data dirs: api.url and api.token

``--product``, ``--price`` and ``--stop`` choose the edits (default: latte 10 cents dearer, croissant stopped).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# --- the console-side script: standard library only ---------------------------------------------

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxies


def http(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with _OPENER.open(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        sys.exit(f"{method} {url} -> HTTP {exc.code} {exc.read().decode(errors='replace')}")


@dataclass(frozen=True)
class Register:
    name: str
    api: str
    token: str

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> Register:
        """A node on this machine: its API URL and token are files in its data directory."""
        return cls(
            data_dir.name,
            (data_dir / "api.url").read_text().strip(),
            (data_dir / "api.token").read_text().strip(),
        )

    def get(self, path: str) -> Any:
        return http("GET", self.api + path, self.token)


@dataclass(frozen=True)
class Console:
    api: str
    token: str
    venue: str

    def call(self, method: str, what: str, body: dict[str, Any] | None = None) -> Any:
        return http(method, f"{self.api}/api/venues/{self.venue}/{what}", self.token, body)


def price_of(register: Register, product_id: str) -> int | None:
    products = register.get("/api/catalog")["products"]
    return next((int(p["price"]) for p in products if p["id"] == product_id), None)


def has_stop(register: Register, product_id: str) -> bool:
    return any(s["product_id"] == product_id for s in register.get("/api/stoplist"))


def edit_and_wait(
    console: Console,
    registers: list[Register],
    *,
    product: str,
    price: int | None,
    stop: str,
    timeout: float = 30.0,
) -> bool:
    """Post the two edits to the console; poll each register until it has both. True if all did."""
    before = price_of(registers[0], product)
    if before is None:
        sys.exit(f"{registers[0].name} has no product {product!r} in its catalog")
    new_price = before + 10 if price is None else price
    relays = ", ".join(console.call("GET", "status")["relays"]) or "none"
    print(f"console: venue {console.venue}, relays connected: {relays}")

    started = time.monotonic()
    updated = console.call("POST", "prices", {"product_id": product, "price": new_price})
    print(f"console: price of {updated['id']} {before / 100:.2f} -> {updated['price'] / 100:.2f}")
    entry = console.call("POST", "stoplist", {"product_id": stop, "stopped": True})
    print(f"console: {entry['item']} stopped by {entry['user']}")

    arrived: dict[str, float] = {}
    deadline = started + timeout
    while len(arrived) < len(registers) and time.monotonic() < deadline:
        for register in registers:
            if register.name in arrived:
                continue
            if price_of(register, product) == new_price and has_stop(register, stop):
                took = arrived[register.name] = time.monotonic() - started
                print(f"{register.name}: has the new price and the stop after {took:.2f} s")
        time.sleep(0.05)
    missing = [r.name for r in registers if r.name not in arrived]
    if missing:
        print(f"still without the edits after {timeout:.0f} s: {', '.join(missing)}")
        return False
    print(f"every register has both edits {max(arrived.values()):.2f} s after they were posted")
    return True


# --- a throwaway venue: the only part that uses meshpos ------------------------------------------


class Proc:
    """A ``python -m meshpos ...`` child whose first stdout line is its JSON "ready" line."""

    def __init__(self, name: str, args: list[str], root: Path) -> None:
        self.name = name
        self.out = root / f"{name}.out"
        self.log = root / f"{name}.log"
        with self.out.open("w") as out, self.log.open("w") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "meshpos", *args], stdout=out, stderr=log
            )

    def ready(self, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.out.read_text()
            if text.endswith("\n"):
                line: dict[str, Any] = json.loads(text.splitlines()[0])
                return line
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        sys.exit(f"{self.name} did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def free_port(host: str) -> int:
    """A port free on ``host`` now (the host is a loopback address of this venue's own)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_green(registers: list[Register], timeout: float) -> list[dict[str, Any]]:
    """Every register's status once all are green (linked, and a relay reaches the console)."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = [_status(r) for r in registers]
        done = all(s.get("colour") == "green" and s.get("relay") for s in statuses)
        if done or time.monotonic() > deadline:
            return statuses
        time.sleep(0.1)


def _status(register: Register) -> dict[str, Any]:
    """``GET /status`` needs no token (``meshpos status`` reads it); ``{}`` while a node is down."""
    url = f"{register.api}/status"
    with contextlib.suppress(OSError, ValueError), _OPENER.open(url, timeout=2) as response:
        status: dict[str, Any] = json.loads(response.read())
        return status
    return {}


@contextlib.contextmanager
def throwaway_venue() -> Iterator[tuple[Console, list[Register]]]:
    import asyncio

    from meshpos.console.db import open_console_db
    from meshpos.console.runner import register_venues
    from meshpos.harness.venue import catalog_update, make_device, make_venue

    heartbeat = "0.3"
    with (
        tempfile.TemporaryDirectory(prefix="meshpos-console-edit-") as tmp,
        contextlib.ExitStack() as procs,
    ):
        root = Path(tmp)
        authority = make_venue(root, "Example Café")
        catalog = catalog_update()  # what the console authored; every device starts with it

        async def console_db() -> None:
            db = await open_console_db(f"sqlite:///{root / 'console.db'}")
            try:
                await register_venues(db, [authority.directory])
                await db.append_updates(authority.venue_id, "catalog", [catalog])
            finally:
                await db.close()

        asyncio.run(console_db())
        console = Proc(
            "console",
            [
                "console",
                "--db",
                f"sqlite:///{root / 'console.db'}",
                "--port",
                "0",
                "--api-port",
                "0",
                "--venue",
                str(authority.directory),
                "--token-file",
                str(root / "console-admin.token"),
                "--heartbeat-interval",
                heartbeat,
            ],
            root,
        )
        procs.callback(console.stop)
        ready = console.ready()
        print(f"console: relays at {ready['console']}, admin API at {ready['api']}")

        prefix = f"127.{random.randrange(200, 250)}.{random.randrange(1, 250)}"
        internet = {"console_url": ready["console"], "console_token": authority.console_token}
        hosts = {"R1": f"{prefix}.11", "R2": f"{prefix}.12"}
        ports = {name: free_port(host) for name, host in hosts.items()}  # so R2 can name R1 at once
        nodes: list[Proc] = []
        started = time.monotonic()
        for name, settings in (("R1", internet), ("R2", {})):
            asyncio.run(
                make_device(
                    authority,
                    root,
                    name,
                    host=hosts[name],
                    port=ports[name],
                    catalog=catalog,
                    heartbeat_interval=float(heartbeat),
                    **settings,
                )
            )
            peers = [f"--peer={p}@{hosts[p]}:{ports[p]}" for p in hosts if p != name]
            node = Proc(name, ["node", "--config", str(root / f"{name}.toml"), *peers], root)
            procs.callback(node.stop)
            nodes.append(node)
            where = "with internet" if settings else "without internet (no console_url)"
            print(f"{name}: meshpos node on {hosts[name]}:{ports[name]}, {where}")
        for node in nodes:
            node.ready()  # api.url and api.token are written before the ready line
        registers = [Register.from_data_dir(root / node.name) for node in nodes]

        statuses = wait_until_green(registers, timeout=30)
        print(f"venue up {time.monotonic() - started:.1f} s after the registers were started:")
        for register, status in zip(registers, statuses, strict=True):
            print(
                f"  {register.name}: {status.get('colour')} — {status.get('message')} "
                f"(relay {status.get('relay')})"
            )
        token = (root / "console-admin.token").read_text().strip()
        yield Console(ready["api"], token, authority.venue_id), registers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--console-api", help="the console's admin API URL")
    parser.add_argument("--admin-token", help="the console's admin token")
    parser.add_argument("--venue", help="the venue id")
    parser.add_argument(
        "--register", type=Path, action="append", default=[], help="a register's data dir"
    )
    parser.add_argument("--product", default="latte", help="whose price to change")
    parser.add_argument("--price", type=int, help="new price in cents (default: 10 more)")
    parser.add_argument("--stop", default="croissant", help="the product to stop")
    args = parser.parse_args()
    edits = {"product": args.product, "price": args.price, "stop": args.stop}
    if args.console_api:
        if not (args.admin_token and args.venue and args.register):
            parser.error("--console-api needs --admin-token, --venue and at least one --register")
        console = Console(args.console_api.rstrip("/"), args.admin_token, args.venue)
        registers = [Register.from_data_dir(d) for d in args.register]
        ok = edit_and_wait(console, registers, **edits)
    else:
        with throwaway_venue() as (console, registers):
            ok = edit_and_wait(console, registers, **edits)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
