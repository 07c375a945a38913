"""Found from the outside (the twenty-first session), as a cook double-tapping "Start cooking": the ticket
went to "Ready" (tests/web/test_kitchen_double_tap_browser.py shows it on the kitchen page). On one device
a second move is made from where the first left the ticket, so it counts; moves from other devices are
already settled by the model (a move counts from the state it was made in). A bump or recall may now
name the state the screen showed (``from``): a ticket that has left it is 409 ``ticket_moved`` and
nothing is written. Without ``from`` a move goes from where the ticket is, as an app of the release
before sends it.

One real register process (the API token, as a kitchen app on the device would call it), the two taps
sent at once. On main ``from`` is an unknown field (400) and the taps without it make the ticket ready.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from meshpos.model.sample import CASHIER, COOK
from tests.web.kit import http

from ..mesh.kit import NodeProcess, make_device, make_venue


@pytest.fixture
def register(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    root = tmp_path_factory.mktemp("register")
    config = make_device(make_venue(root), root, "R1")
    node = NodeProcess(config, root / "R1.log", args=["--no-discovery"]).start()
    try:
        yield node
    finally:
        node.kill()


@pytest.mark.slow
async def test_two_taps_from_the_state_shown_move_the_ticket_once(register: NodeProcess) -> None:
    register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
    order = register.call("POST", "/api/orders", {"user": CASHIER, "table": "5"})
    register.call(
        "POST", f"/api/orders/{order['id']}/lines", {"user": CASHIER, "product_id": "burger"}
    )
    ticket = register.call("POST", f"/api/orders/{order['id']}/kitchen", {"user": CASHIER})[
        "ticket"
    ]
    path = f"/api/kitchen/tickets/{ticket['id']}"
    auth = {"Authorization": f"Bearer {register.client.token}"}

    def state() -> str:
        board = register.call("GET", "/api/kitchen/tickets")["tickets"]
        return str(next(t["state"] for t in board if t["id"] == ticket["id"]))

    tap = {"user": COOK, "from": "new"}
    answers = await asyncio.gather(
        *(http(register.api, "POST", f"{path}/bump", body=tap, headers=auth) for _ in range(2))
    )
    statuses = sorted(a.status for a in answers)
    assert statuses == [200, 409], [a.body[:300] for a in answers]  # main: [400, 400]
    refused = json.loads(next(a for a in answers if a.status == 409).body)["error"]
    assert refused["code"] == "ticket_moved", refused
    assert "is cooking now, not new" in refused["message"], refused
    assert state() == "cooking"

    # a recall from a state the ticket is not in changes nothing either; from the one it is in, it goes
    late = register.client.request("POST", f"{path}/recall", {"user": COOK, "from": "ready"})
    assert (late.status, late.error[0]) == (409, "ticket_moved"), late
    assert state() == "cooking"
    register.call("POST", f"{path}/bump", {"user": COOK, "from": "cooking"})
    register.call("POST", f"{path}/recall", {"user": COOK, "from": "ready"})
    assert state() == "cooking"

    # without ``from`` (an app of the release before) a move goes from where the ticket is
    register.call("POST", f"{path}/bump", {"user": COOK})
    assert state() == "ready"
    bad = register.client.request("POST", f"{path}/bump", {"user": COOK, "from": "fried"})
    assert (bad.status, bad.error[0]) == (400, "bad_field"), bad
    assert state() == "ready"
