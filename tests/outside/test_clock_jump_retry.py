"""Found from the outside (third round), with a register whose clock jumps: a write retried with its
``Idempotency-Key`` after the register's clock was set right by days is done a second time.

A register app on a flaky Wi-Fi sends a write again when it got no answer, with the same key, and the
node answers the first answer instead of writing twice (docs/api.md, Retries). The node keeps the keys
by business day, as its clock says (register/request_keys.py ``find``: today and the day before;
``expire``: every day before that is forgotten at the next keyed write). A register that booted with
its clock days behind (a flat clock battery, month three) and is then set right by NTP, or one days
ahead and set back, forgets every key taken before the jump: the retry of "add a burger" adds a second
burger to the customer's bill, the retry of a cash move moves the cash twice.

Real ``meshpos node`` process under libfaketime, its wall clock moved 3 days at once while it runs
(monotonic time untouched, as NTP does). Fails on 5761f4c (a second burger; the cash moved twice);
the memory now finds a key by the key alone and keeps the day it was taken on through the jump's
expiry (register/request_keys.py).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import load_config
from meshpos.localapi import read_token
from meshpos.model.sample import CASHIER, MANAGER

from ..mesh.kit import NodeProcess, make_device, make_venue
from ..web.kit import CATALOG, Answer, Client

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
KEY = "Idempotency-Key"


def _call(client: Client, path: str, body: dict[str, Any], key: str) -> Answer:
    return asyncio.run(client.call("POST", path, body, headers={KEY: key}))


@pytest.mark.skipif(
    not LIBFAKETIME.exists() and os.environ.get("CI") != "true",
    reason="needs faketime (Debian package)",
)
@pytest.mark.parametrize("jump", ["+3d", "-3d"])
def test_a_retry_after_the_clock_jumped_days_is_still_done_once(tmp_path: Path, jump: str) -> None:
    assert LIBFAKETIME.exists(), "faketime is missing (./run test installs it as root)"
    clock = tmp_path / "faketime"
    clock.write_text("+0\n")
    faked = [
        "env",
        f"LD_PRELOAD={LIBFAKETIME}",
        f"FAKETIME_TIMESTAMP_FILE={clock}",
        "FAKETIME_NO_CACHE=1",  # the file is read at each look at the clock
        "FAKETIME_DONT_FAKE_MONOTONIC=1",  # NTP moves the wall clock only
    ]
    config = make_device(make_venue(tmp_path), tmp_path, "R1", catalog=CATALOG)
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"], prefix=faked).start()
    try:
        client = Client(node.api, read_token(load_config(config, env={}).data_dir / "api.token"))
        node.call("POST", "/api/shifts", {"user": MANAGER, "opening_cash": 10_000})
        order = _call(client, "/api/orders", {"user": CASHIER, "table": "5"}, "order-5").json()
        line = {"user": CASHIER, "product_id": "burger"}
        lines = f"/api/orders/{order['id']}/lines"
        first = _call(client, lines, line, "burger-1")
        assert first.status in (200, 201), first.body
        cash = {"user": MANAGER, "kind": "in", "amount": 500}
        moved = _call(client, "/api/shifts/current/cash-moves", cash, "cash-1")
        assert moved.status in (200, 201), moved.body

        clock.write_text(f"{jump}\n")  # NTP sets the clock right by 3 days, the node running
        fries = _call(client, lines, {"user": CASHIER, "product_id": "fries"}, "fries-1")
        assert fries.status in (200, 201), fries.body  # a new keyed write: old days expire
        again = _call(client, lines, line, "burger-1")  # the app got no answer: the same again
        moved_again = _call(client, "/api/shifts/current/cash-moves", cash, "cash-1")

        bill = node.call("GET", f"/api/orders/{order['id']}")
        assert [item["product_id"] for item in bill["lines"]] == ["burger", "fries"], bill["lines"]
        assert node.call("GET", "/api/shifts/current")["expected_cash"] == 10_500
        for retry in (again, moved_again):
            assert retry.headers.get("idempotent-replayed") == "true", (retry.status, retry.body)
    finally:
        node.stop()
