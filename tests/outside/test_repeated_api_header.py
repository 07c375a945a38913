"""A header the node's API reads, sent twice with two values, is refused by name (outside, 2nd round).

The local API kept the last value of a repeated header: a kitchen write carrying
``X-Meshpos-Session: junk`` then the cook's session went through in the cook's name (200), and with the
two lines the other way round it was refused as ``session_ended``, which names no problem the sender
can fix. A proxy or a tired integrator's code that adds a header its client already set does this, and
which value counts must not depend on the order of the lines. Now two different values of
``X-Meshpos-Session``, ``Authorization`` or ``Idempotency-Key`` are 400 ``bad_request`` naming the
header, and nothing is written; the same value twice is still taken (it says one thing).

One real kitchen-screen process (role ``kds``), requests as any client on the device can send them.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from meshpos.harness.venue import catalog_update
from meshpos.model.sample import COOK
from tests.web.kit import http

from ..mesh.kit import NodeProcess, make_device, make_venue

PIN = "2468"


@pytest.fixture
def kitchen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    root = tmp_path_factory.mktemp("kitchen")
    config = make_device(
        make_venue(root), root, "K1", role="kds", catalog=catalog_update({COOK: PIN})
    )
    node = NodeProcess(config, root / "K1.log", args=["--no-discovery"]).start()
    try:
        yield node
    finally:
        node.kill()


async def put_stop(node: NodeProcess, item: str, headers: list[tuple[str, str]]) -> tuple[int, str]:
    """``PUT /api/stoplist/<item>`` stopping it in the cook's name, with ``headers`` as given (so one
    can repeat): the status and the body."""
    url = urlsplit(node.api)
    assert url.hostname is not None
    assert url.port is not None
    body = json.dumps({"user": COOK, "stopped": True}).encode()
    lines = [
        f"PUT /api/stoplist/{item} HTTP/1.1",
        f"Host: {url.netloc}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, text = reply.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), text.decode()


@pytest.mark.slow
async def test_a_header_sent_twice_with_two_values_is_refused_and_writes_nothing(
    kitchen: NodeProcess,
) -> None:
    html = (await http(kitchen.api, "GET", "/kitchen")).body.decode()
    found = re.search(r'name="meshpos-token" content="([^"]+)"', html)
    assert found, html[:300]
    auth = ("Authorization", f"Bearer {found.group(1)}")
    signed = await http(
        kitchen.api,
        "POST",
        "/api/login",
        body={"user": COOK, "pin": PIN, "at": "kitchen"},
        headers=dict([auth]),
    )
    assert signed.status == 200, signed.body[:300]
    session = ("X-Meshpos-Session", str(signed.json()["session"]))

    for name, headers in [
        ("x-meshpos-session", [auth, ("X-Meshpos-Session", "junk"), session]),
        ("x-meshpos-session", [auth, session, ("X-Meshpos-Session", "junk")]),
        ("authorization", [("Authorization", "Bearer junk"), auth, session]),
        ("idempotency-key", [auth, session, ("Idempotency-Key", "a"), ("Idempotency-Key", "b")]),
    ]:
        status, text = await put_stop(kitchen, "burger", headers)
        assert status == 400, (name, status, text)  # main: 200 (the last value), or a 401
        assert f"header {name} sent twice" in text, (name, text)
    assert kitchen.call("GET", "/api/stoplist") == []

    # the same value twice says one thing: taken
    status, text = await put_stop(kitchen, "fries", [auth, session, session])
    assert status == 200, text
    assert [s["product_id"] for s in kitchen.call("GET", "/api/stoplist")] == ["fries"]


@pytest.mark.slow
async def test_a_session_header_that_is_no_session_is_refused_by_name(kitchen: NodeProcess) -> None:
    """A register app sending the wrong value in ``X-Meshpos-Session`` (its page token, a user id, a
    truncated copy) was told "this sign-in has ended: sign in again with your PIN", which sent its
    developer to the cashier; now a 400 names the header and what a session looks like, and nothing is
    written. A well-formed session the node never made (or ended) is still 401 ``session_ended``."""
    html = (await http(kitchen.api, "GET", "/kitchen")).body.decode()
    found = re.search(r'name="meshpos-token" content="([^"]+)"', html)
    assert found, html[:300]
    auth = ("Authorization", f"Bearer {found.group(1)}")
    for bad in ["junk", found.group(1), "a" * 42 + "!", "a" * 44]:
        status, text = await put_stop(kitchen, "burger", [auth, ("X-Meshpos-Session", bad)])
        assert status == 400, (bad, status, text)  # main: 401 session_ended
        assert json.loads(text)["error"]["code"] == "bad_session", text
        assert "X-Meshpos-Session is not a session: it must be the 43" in text, text
        asked = await http(
            kitchen.api,
            "GET",
            "/api/session",
            headers={"Authorization": auth[1], "X-Meshpos-Session": bad},
        )
        assert (asked.status, asked.code) == (400, "bad_session"), asked.body[:300]
    status, text = await put_stop(kitchen, "burger", [auth, ("X-Meshpos-Session", "a" * 43)])
    assert (status, json.loads(text)["error"]["code"]) == (401, "session_ended"), text
    assert kitchen.call("GET", "/api/stoplist") == []
