"""The node's listener for stock Yjs clients with a token only (``yjs_port``, net.yjs): a browser's door.

It asks TLS for no client certificate (Chromium drops a handshake that asks for one), so it admits
tokens and nothing else: no token, a wrong one, a device certificate (never even asked for), another
venue's certificate, a path that is not ``/yjs/<document>``, a name that is no document of the venue
and a token below register on the catalog are each closed with the 44xx code y-websocket does not
reconnect after, counted with the mesh's refusals, and change nothing. Where the listener is, the ready
line and ``/status`` say; the mesh port stays as strict (tests/yjs/test_stock_clients.py).
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from meshpos.harness.venue import enroll_directly
from meshpos.harness.wait import wait_for
from meshpos.model.documents import CATALOG
from meshpos.net.wsconn import PATH
from meshpos.trust import device_hostname
from meshpos.trust.identity import CA_FILE, CERT_FILE, KEY_FILE
from tests.mesh.kit import make_venue
from tests.yjs.kit import NOTES, Bed, StockClient

ROOM = "stoplist"


def test_the_ready_line_and_status_name_the_token_port_and_a_token_client_syncs_there(
    bed: Bed,
) -> None:
    assert bed.yjs_port not in (0, bed.node.port)
    assert bed.node.status()["yjs_port"] == bed.yjs_port
    browser_like = bed.client(ROOM, token=bed.tokens["tablet"], port=bed.yjs_port)
    device = bed.client(ROOM, device="T1", role="register")  # on the mesh port, as before
    assert browser_like.ask("synced")["done"]
    assert device.ask("synced")["done"]
    browser_like.ask("set", root=NOTES, key="from-token-port", value="hello")
    assert device.ask("has", root=NOTES, key="from-token-port")["done"]


def _bad_client(bed: Bed, case: str) -> StockClient:
    """A stock client on the token port that must be refused."""
    if case == "no token":
        return bed.client(ROOM, port=bed.yjs_port)
    if case == "wrong token":
        return bed.client(ROOM, token="not-a-token-of-this-node", port=bed.yjs_port)
    if case == "device certificate":  # good on the mesh port; here never asked for
        return bed.client(ROOM, device="T2", role="register", port=bed.yjs_port)
    if case == "another venue's certificate":
        folder = bed.root / "elsewhere" / "X1"
        enroll_directly(make_venue(bed.root / "elsewhere"), "X1", "register", folder)
        client = StockClient(
            bed.npm,
            url=f"wss://{bed.host}:{bed.yjs_port}/yjs",
            room=ROOM,
            ca=str(bed.root / "R1" / "identity" / CA_FILE),
            servername=device_hostname("R1", bed.authority.venue_id),
            cert=str(folder / CERT_FILE),
            key=str(folder / KEY_FILE),
        )
        bed.clients.append(client)
        return client
    if case == "not a document":
        return bed.client(
            "venue-b/ledger/2026-12-05", token=bed.tokens["tablet"], port=bed.yjs_port
        )
    assert case == "reader token on the catalog"
    return bed.client(CATALOG, token=bed.tokens["board"], port=bed.yjs_port)


@pytest.mark.parametrize(
    ("case", "code", "refusal"),
    [
        ("no token", 4401, "yjs_unauthenticated"),
        ("wrong token", 4401, "yjs_token"),
        ("device certificate", 4401, "yjs_unauthenticated"),
        ("another venue's certificate", 4401, "yjs_unauthenticated"),
        ("not a document", 4404, "yjs_document"),
        ("reader token on the catalog", 4403, "yjs_catalog"),
    ],
)
def test_a_bad_client_on_the_token_port_is_closed_for_good_and_changes_nothing(
    bed: Bed, case: str, code: int, refusal: str
) -> None:
    before = bed.node.status()["refusals"]
    client = _bad_client(bed, case)
    client.ask("set", root=NOTES, key="forged", value=case)  # whatever reaches the node
    closed = client.ask("closed")
    assert closed["done"], closed
    assert closed["code"] == code, closed
    assert closed["reconnecting"] is False, closed  # y-websocket gave up, as a 44xx code says
    after = bed.node.status()["refusals"]
    assert after.get(refusal, 0) == before.get(refusal, 0) + 1, (before, after)
    assert sum(after.values()) == sum(before.values()) + 1, (before, after)
    fresh = bed.client(ROOM, token=bed.tokens["tablet"], port=bed.yjs_port)
    assert fresh.ask("synced")["done"]
    assert fresh.ask("get", root=NOTES)["value"] == {}


@pytest.mark.parametrize("path", [PATH, "/", "/api/status", "/yjsx/stoplist"])
def test_a_path_other_than_yjs_is_closed_4404_even_with_a_good_token(bed: Bed, path: str) -> None:
    """The mesh's own path included: no mesh peer is ever served on this port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(bed.root / "R1" / "identity" / CA_FILE)
    before = bed.node.status()["refusals"].get("yjs_path", 0)

    async def knock() -> int:
        """The close code the node answers with (0: it sent a message instead)."""
        async with connect(
            f"wss://{bed.host}:{bed.yjs_port}{path}",
            ssl=context,
            server_hostname=device_hostname("R1", bed.authority.venue_id),
            additional_headers={"Authorization": f"Bearer {bed.tokens['tablet']}"},
            proxy=None,
        ) as ws:
            try:
                await ws.recv()
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else -1
            return 0

    assert asyncio.run(knock()) == 4404
    assert bed.node.status()["refusals"].get("yjs_path", 0) == before + 1


def test_failed_handshakes_on_the_token_port_are_counted_each_and_logged_once(bed: Bed) -> None:
    """Anyone on the LAN can knock on this port without a certificate: the log must not grow with it."""
    knocks = 3
    before = bed.node.status()["refusals"].get("tls", 0)
    for _ in range(knocks):
        with socket.create_connection((bed.host, bed.yjs_port), timeout=10) as plain:
            plain.sendall(b"GET /yjs/stoplist HTTP/1.1\r\nHost: x\r\n\r\n")  # no TLS at all
            plain.recv(1024)  # the node's TLS alert, or the close
    wait_for(
        lambda: bed.node.status()["refusals"].get("tls", 0) == before + knocks,
        20,
        "each knock counted",
    )
    logged = [line for line in bed.node.log.read_text().splitlines() if ": tls: " in line]
    assert len(logged) == 1, logged
