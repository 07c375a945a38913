"""A kitchen acknowledgement is checked against its author, with real processes (R1 and K1 over mTLS).

A screen writes ``held/<ticket>/<screen>`` once it holds a ticket, and R1 warns of a ticket no screen
holds. Before, any device that may write the kitchen document could write that key for K1: a register
or another screen could tell R1 a ticket was safe on K1 while K1 was off. Now R1 refuses a new ``held``
key written under the client id of a device that is not the screen it names (meshpos/sync/_structs.py);
a screen's acknowledgement of its own holding still counts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pycrdt import Doc, Map

from meshpos.config import load_config
from meshpos.harness.wait import wait_for
from meshpos.model.documents import kitchen_name
from meshpos.model.sample import CASHIER
from meshpos.sync import SyncUpdate
from meshpos.trust import load_venue

from ..trust.helpers import issue_identity
from . import test_kitchen_truth_node as truth
from .attacker import Attacker
from .kit import NodeProcess

pair = truth.pair  # R1 and K1, R1 dialling K1, no discovery
REFUSED = "acknowledges a kitchen ticket for another screen"


async def acknowledge(
    r1: NodeProcess,
    device: str,
    role: str,
    client_id: int,
    authority: Any,
    ticket: str,
    screen: str = "K1",
) -> None:
    """``device`` (enrolled with ``role``) dials R1 and writes ``held/<ticket>/<screen>``."""
    host = load_config(r1.config, env={}).listen_host
    evil = await Attacker.dial(issue_identity(authority, device, role), "R1", host, r1.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello(role, client_id=client_id))
        name = kitchen_name(r1.call("GET", "/api/kitchen/tickets")["date"])
        kitchen: Doc[Any] = Doc(client_id=client_id)
        kitchen.apply_update(await evil.fetch(name))
        seen = kitchen.get_state()
        kitchen.get("held", type=Map)[f"{ticket}/{screen}"] = {"at": 1}
        await evil.send(SyncUpdate(name, kitchen.get_update(seen)))
        await evil.fetch(
            name
        )  # answered after the update was handled: the same connection, in order
    finally:
        await evil.close()


async def test_only_the_screen_itself_acknowledges_a_ticket(
    pair: tuple[NodeProcess, NodeProcess], tmp_path: Path
) -> None:
    r1, k1 = pair
    authority = load_venue(tmp_path / "venue")
    r1.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    k1.stop()  # the only screen is off: nothing holds what R1 sends now
    _, ticket = truth.send(r1, "5")
    assert ticket in truth.unheld(r1)

    await acknowledge(r1, "R9", "register", 90213, authority, ticket)  # a register, for K1
    await acknowledge(r1, "K9", "kds", 90214, authority, ticket)  # another screen, for K1
    log = r1.log.read_text()
    assert re.search(rf"from R9 \(R9#\d+\): {REFUSED}", log)
    assert re.search(rf"from K9 \(K9#\d+\): {REFUSED}", log)
    assert truth.board(r1)[ticket]["held_by"] == []
    assert ticket in truth.unheld(r1)  # R1 still warns of it

    # a screen's acknowledgement of its own holding counts (K8, for K8)
    await acknowledge(r1, "K8", "kds", 90215, authority, ticket, screen="K8")
    wait_for(
        lambda: truth.board(r1)[ticket]["held_by"] == ["K8"],
        10,
        "K8's own acknowledgement on R1",
        on=[r1.events],
    )
    assert ticket not in truth.unheld(r1)
