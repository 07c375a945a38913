"""Who a kitchen write is attributed to is whatever the kitchen screen says (red, fifteenth session; known
gap, not closed).

The kitchen page picks its cook from a list with no PIN (static/kitchen.js ``cook()``), and the node lets
a page write on a ``kitchen`` route (bump, recall, the stop list) name any user who holds no right
without a sign-in (web/sessions.py). So anyone at a kitchen screen, or any program on the device that
reads the page's token from the page, stops an item, bumps or recalls a ticket in any cook's name; the
stop list and the kitchen's records then say that cook did it. Closing it means a cook signs in with
their PIN at the screen (a session, as the register's cashier) and the exception goes: a change of the
kitchen's way of working, left for a decision; the test stays xfail (strict) until then.

One real kitchen-screen process (role ``kds``); the page token read from ``/kitchen`` as the browser
reads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpos.model.sample import COOK
from tests.web.kit import http

from ..mesh.kit import NodeProcess, make_device, make_venue


@pytest.fixture
def kitchen(tmp_path: Path) -> Iterator[NodeProcess]:
    config = make_device(make_venue(tmp_path), tmp_path, "K1", role="kds")
    node = NodeProcess(config, tmp_path / "K1.log", args=["--no-discovery"]).start()
    try:
        yield node
    finally:
        node.kill()


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="known gap (docs/architecture.md (Security)): the kitchen screen names its cook "
    "without a PIN, so a kitchen write goes in any cook's name",
)
async def test_a_kitchen_write_in_a_cooks_name_needs_that_cooks_pin(
    kitchen: NodeProcess,
) -> None:
    html = (await http(kitchen.api, "GET", "/kitchen")).body.decode()
    found = re.search(r'name="meshpos-token" content="([^"]+)"', html)
    assert found, html[:300]
    stop = await http(
        kitchen.api,
        "PUT",
        "/api/stoplist/burger",
        body={"user": COOK, "stopped": True},
        headers={"Authorization": f"Bearer {found.group(1)}"},
    )
    stopped_by = [s for s in kitchen.call("GET", "/api/stoplist") if s["product_id"] == "burger"]
    assert stop.status == 401, (stop.status, stop.body[:300], stopped_by)  # main: 200, by COOK
    assert stopped_by == []
