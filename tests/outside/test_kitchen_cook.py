"""Who a kitchen write is attributed to: the cook signed in at the kitchen screen with their PIN (red,
fifteenth session; closed in issue 18, cook).

The kitchen page picked its cook from a list with no PIN, and the node let a page write on a ``kitchen``
route (bump, recall, the stop list) name any user who holds no right without a sign-in
(web/sessions.py). So anyone at a kitchen screen, or any program on the device that reads the page's
token from the page, stopped an item, bumped or recalled a ticket in any cook's name. Now a cook signs in
at the screen with their PIN (``POST /api/login`` with ``at: kitchen``; on a kitchen screen node every
sign-in is a kitchen one), every kitchen write is in the signed-in cook's name, and a kitchen sign-in
does the kitchen's moves only.

One real kitchen-screen process (role ``kds``) on its own, with no console and no peer: the PINs are in
the catalog the node holds, so the kitchen signs its cooks in with the console away. The page token is
read from ``/kitchen`` as the browser reads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from meshpos.harness.venue import catalog_update
from meshpos.model.sample import CASHIER, COOK, MANAGER
from meshpos.web.pins import USER_STRIKES
from tests.web.kit import Answer, http

from ..mesh.kit import NodeProcess, make_device, make_venue

PINS = {COOK: "2468", CASHIER: "1357", MANAGER: "9753"}


@pytest.fixture(scope="module")
def kitchen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """One kitchen screen for the module (a start costs seconds on a loaded machine): each test
    stops an item of its own; wrong PINs, 7 in all, stay under the per-address lock, and only
    the manager, whom no other test signs in, is locked."""
    root = tmp_path_factory.mktemp("kitchen")
    config = make_device(make_venue(root), root, "K1", role="kds", catalog=catalog_update(PINS))
    node = NodeProcess(config, root / "K1.log", args=["--no-discovery"]).start()
    try:
        yield node
    finally:
        node.kill()


class Screen:
    """What the kitchen page does: the token the page embeds, the session its sign-in answered."""

    def __init__(self, node: NodeProcess, token: str, item: str) -> None:
        self.node = node
        self.token = token
        self.item = item  # the product this test stops
        self.stop = f"/api/stoplist/{item}"
        self.session = ""

    @classmethod
    async def open(cls, node: NodeProcess, item: str) -> Screen:
        html = (await http(node.api, "GET", "/kitchen")).body.decode()
        found = re.search(r'name="meshpos-token" content="([^"]+)"', html)
        assert found, html[:300]
        return cls(node, found.group(1), item)

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, session: str | None = None
    ) -> Answer:
        headers = {"Authorization": f"Bearer {self.token}"}
        sent = self.session if session is None else session
        if sent:
            headers["X-Meshpos-Session"] = sent
        return await http(self.node.api, method, path, body=body, headers=headers)

    async def sign_in(self, user: str, pin: str) -> Answer:
        answer = await self.call("POST", "/api/login", {"user": user, "pin": pin, "at": "kitchen"})
        if answer.status == 200:
            self.session = str(answer.json()["session"])
        return answer

    def stopped_by(self) -> list[str]:
        stops = self.node.call("GET", "/api/stoplist")
        return [str(s["user"]) for s in stops if s["product_id"] == self.item]


@pytest.mark.slow
async def test_a_kitchen_write_in_a_cooks_name_needs_that_cooks_pin(
    kitchen: NodeProcess,
) -> None:
    screen = await Screen.open(kitchen, "burger")
    stop = await screen.call("PUT", screen.stop, {"user": COOK, "stopped": True})
    assert stop.status == 401, (stop.status, stop.body[:300], screen.stopped_by())  # main: 200
    assert stop.code == "session_required"
    bump = await screen.call("POST", "/api/kitchen/tickets/t-none/bump", {"user": COOK})
    assert (bump.status, bump.code) == (401, "session_required"), bump.body[:300]  # main: 404
    assert screen.stopped_by() == []

    signed = await screen.sign_in(COOK, PINS[COOK])
    assert signed.status == 200, signed.body[:300]
    assert signed.json()["at"] == "kitchen"  # a kitchen screen node's sign-ins are all kitchen ones
    stop = await screen.call("PUT", screen.stop, {"user": COOK, "stopped": True})
    assert stop.status == 200, stop.body[:300]
    assert screen.stopped_by() == [COOK]
    # signed in, the cook still cannot write in another's name
    other = await screen.call("PUT", screen.stop, {"user": MANAGER, "stopped": False})
    assert (other.status, other.code) == (403, "user_mismatch"), other.body[:300]
    assert screen.stopped_by() == [COOK]


@pytest.mark.slow
async def test_a_wrong_pin_signs_nobody_in_and_leaves_the_screen_as_it_was(
    kitchen: NodeProcess,
) -> None:
    screen = await Screen.open(kitchen, "fries")
    wrong = await screen.sign_in(COOK, "0000")
    assert (wrong.status, wrong.code) == (403, "login_refused"), wrong.body[:300]
    assert screen.session == ""
    refused = await screen.call("PUT", screen.stop, {"user": COOK, "stopped": True})
    assert (refused.status, refused.code) == (401, "session_required"), refused.body[:300]
    assert screen.stopped_by() == []
    # hand-over: a mistyped PIN of the next cook leaves the one signed in signed in
    assert (await screen.sign_in(COOK, PINS[COOK])).status == 200
    kims = screen.session
    wrong = await screen.sign_in(CASHIER, "0000")
    assert (wrong.status, wrong.code) == (403, "login_refused"), wrong.body[:300]
    assert screen.session == kims
    assert (await screen.call("PUT", screen.stop, {"user": COOK, "stopped": True})).status == 200
    assert screen.stopped_by() == [COOK]


@pytest.mark.slow
async def test_a_cashier_may_cook_but_a_kitchen_sign_in_never_sells(
    kitchen: NodeProcess,
) -> None:
    """A kitchen move needs no right (the rights table has none for it), so any user of the venue may
    sign in at the kitchen (a cashier at the pass), in their own name; but the session of a screen left
    signed in all shift does the kitchen's moves only, whoever holds it: no sale, no drawer."""
    screen = await Screen.open(kitchen, "croissant")
    assert (await screen.sign_in(COOK, PINS[COOK])).status == 200
    kims = screen.session
    # the hand-over: the next one's PIN, in one call, ends the sign-in the screen had
    assert (await screen.sign_in(CASHIER, PINS[CASHIER])).status == 200
    ended = await screen.call("PUT", screen.stop, {"user": COOK, "stopped": True}, session=kims)
    assert (ended.status, ended.code) == (401, "session_ended"), ended.body[:300]
    stop = await screen.call("PUT", screen.stop, {"user": CASHIER, "stopped": True})
    assert stop.status == 200, stop.body[:300]
    assert screen.stopped_by() == [CASHIER]
    for path, body in (
        ("/api/orders", {"user": CASHIER}),
        ("/api/shifts", {"user": CASHIER, "opening_cash": 0}),
    ):
        sale = await screen.call("POST", path, body)
        assert (sale.status, sale.code) == (403, "kitchen_sign_in"), (path, sale.body[:300])
    # a cook's kitchen sign-in on a register's sale route, the same
    assert (await screen.sign_in(COOK, PINS[COOK])).status == 200
    sale = await screen.call("POST", "/api/orders", {"user": COOK})
    assert (sale.status, sale.code) == (403, "kitchen_sign_in"), sale.body[:300]
    assert kitchen.call("GET", "/api/orders") == []


@pytest.mark.slow
async def test_a_signed_out_screen_writes_nothing(kitchen: NodeProcess) -> None:
    screen = await Screen.open(kitchen, "lemonade")
    assert (await screen.sign_in(COOK, PINS[COOK])).status == 200
    who = await screen.call("GET", "/api/session")  # what the screen's header shows
    assert who.status == 200, who.body[:300]
    assert (who.json()["user"]["id"], who.json()["at"]) == (COOK, "kitchen")
    out = await screen.call("POST", "/api/logout")
    assert (out.status, out.json()) == (200, {"ended": True}), out.body[:300]
    who = await screen.call("GET", "/api/session")
    assert (who.status, who.code) == (401, "session_ended"), who.body[:300]
    ended = await screen.call("PUT", screen.stop, {"user": COOK, "stopped": True})
    assert (ended.status, ended.code) == (401, "session_ended"), ended.body[:300]
    unsigned = await screen.call("PUT", screen.stop, {"user": COOK, "stopped": True}, session="")
    assert (unsigned.status, unsigned.code) == (401, "session_required"), unsigned.body[:300]
    assert screen.stopped_by() == []
    board = await screen.call("GET", "/api/kitchen/tickets")
    assert board.status == 200  # the board still shows: reads need no sign-in


@pytest.mark.slow
async def test_guessing_a_pin_at_the_kitchen_locks_as_at_the_register(
    kitchen: NodeProcess,
) -> None:
    """The kitchen's sign-in is the register's PIN check: after USER_STRIKES wrong PINs the user is
    locked, the right PIN refused too (the guesser learns nothing), and nothing is written."""
    screen = await Screen.open(kitchen, "espresso")
    for _ in range(USER_STRIKES):
        wrong = await screen.sign_in(MANAGER, "1111")
        assert (wrong.status, wrong.code) == (403, "login_refused"), wrong.body[:300]
    locked = await screen.sign_in(MANAGER, PINS[MANAGER])
    assert (locked.status, locked.code) == (429, "pin_locked"), locked.body[:300]
    assert int(locked.headers["retry-after"]) >= 1
    assert screen.session == ""
    refused = await screen.call("PUT", screen.stop, {"user": MANAGER, "stopped": True})
    assert (refused.status, refused.code) == (401, "session_required"), refused.body[:300]
    assert screen.stopped_by() == []
