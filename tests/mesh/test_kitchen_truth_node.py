"""The kitchen tells the truth between real processes (issue 17, kitchen): ``meshpos node`` R1 (register)
and K1 (kds) on loopback with TLS. A voided order shows void on K1's API within a second; a ticket K1
holds says so on R1; with the only kitchen screen stopped, R1 warns of a ticket no screen holds within
``KITCHEN_ACK_MS`` (docs/architecture.md (Documents))."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.harness.wait import wait_for
from meshpos.localapi import ApiError
from meshpos.model import KITCHEN_ACK_MS
from meshpos.model.sample import CASHIER, MANAGER

from .kit import NodeProcess, make_device, make_venue

VOID_SHOWN_S = 1.0  # the bound: a void is on every kitchen screen within a second
MARGIN_S = 1.0  # the register's page reads the warning; its API answers it at KITCHEN_ACK_MS


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    authority = make_venue(tmp_path)
    prefix = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}"
    procs: list[NodeProcess] = []
    try:
        configs = {
            name: make_device(
                authority,
                tmp_path,
                name,
                role=role,
                host=f"{prefix}.{i}",
                heartbeat_interval=0.3,
            )
            for i, (name, role) in enumerate((("K1", "kds"), ("R1", "register")), start=11)
        }
        k1 = NodeProcess(configs["K1"], tmp_path / "K1.log", ["--no-discovery"])
        procs.append(k1)
        k1.start()
        r1 = NodeProcess(
            configs["R1"],
            tmp_path / "R1.log",
            ["--no-discovery", f"--peer=K1@{prefix}.11:{k1.port}"],
        )
        procs.append(r1)
        r1.start()
        yield r1, k1
    finally:
        for proc in procs:
            proc.kill()


def send(r1: NodeProcess, table: str) -> tuple[str, str]:
    order = r1.call("POST", "/api/orders", {"user": CASHIER, "table": table})
    r1.call("POST", f"/api/orders/{order['id']}/lines", {"user": CASHIER, "product_id": "burger"})
    sent = r1.call("POST", f"/api/orders/{order['id']}/kitchen", {"user": CASHIER})
    return order["id"], sent["ticket"]["id"]


def board(node: NodeProcess) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in node.call("GET", "/api/kitchen/tickets")["tickets"]}


def unheld(r1: NodeProcess) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in r1.call("GET", "/api/kitchen/unheld")["tickets"]}


def test_void_reaches_the_kds_and_a_silent_kitchen_is_warned_of(
    pair: tuple[NodeProcess, NodeProcess],
) -> None:
    r1, k1 = pair
    r1.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    order_id, ticket_id = send(r1, "12")

    # K1 holds it and says so: R1 reads "held by K1" and has nothing to warn of
    wait_for(
        lambda: board(r1).get(ticket_id, {}).get("held_by") == ["K1"],
        KITCHEN_ACK_MS / 1000,
        "K1's acknowledgement on R1",
        on=[r1.events],
    )
    assert ticket_id not in unheld(r1)
    on_k1 = board(k1)[ticket_id]
    assert (on_k1["label"], on_k1["void"], on_k1["actions"]) == ("Table 12", False, ["bump"])

    r1.call("POST", f"/api/orders/{order_id}/void", {"user": MANAGER, "reason": "guest left"})
    took = wait_for(
        lambda: board(k1)[ticket_id]["void"],
        VOID_SHOWN_S,
        "the void on K1's kitchen API",
        on=[k1.events],
    )
    assert board(k1)[ticket_id]["actions"] == ["bump"]  # the one move left: clear it
    print(f"void shown on K1 after {took:.3f} s")

    k1.stop()  # the only kitchen screen goes away
    _, silent = send(r1, "7")
    assert unheld(r1)[silent]["lost"] is False  # not yet: it was just sent
    took = wait_for(
        lambda: unheld(r1)[silent]["lost"],
        KITCHEN_ACK_MS / 1000 + MARGIN_S,
        "R1's warning of a ticket no kitchen screen holds",
        ignore=(ApiError,),
    )
    print(f"R1 warned after {took:.3f} s")
