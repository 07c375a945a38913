"""Stock Yjs clients (npm's yjs + y-websocket + ws under Debian's nodejs) against a real ``meshpos node``.

Issue 19: two clients sync a document through the node; a sale made through the node's API reaches a
client's copy of the day's ledger; a kds-certified client's ledger write is refused (the y-protocols
permission-denied message) and changes nothing; a client with no valid certificate or token is closed
with a 44xx code, after which y-websocket does not reconnect.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import subprocess
import sys
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from meshpos.harness.wait import wait_for
from meshpos.model.documents import ledger_name
from meshpos.model.records import LEDGER_ROOTS
from meshpos.model.sample import CASHIER
from meshpos.net.wsconn import PATH, LinkRefused, dial
from meshpos.net.yjs import ACCEPTS
from meshpos.trust import device_hostname
from meshpos.trust.identity import CA_FILE
from tests.mesh.kit import NodeProcess, make_device
from tests.yjs.kit import NOTES, Bed


def today(bed: Bed) -> str:
    """The ledger document of the node's business day."""
    return ledger_name(bed.node.call("GET", "/api/days")["today"])


def test_two_stock_clients_sync_a_document_through_the_node(bed: Bed) -> None:
    room = "stoplist"
    a = bed.client(room, device="T1", role="register")
    b = bed.client(room, token=bed.tokens["tablet"])
    assert a.ask("synced")["done"]
    assert b.ask("synced")["done"]
    a.ask("set", root=NOTES, key="from-a", value="hello")
    assert b.ask("has", root=NOTES, key="from-a")["done"]
    b.ask("set", root=NOTES, key="from-b", value="hi")
    assert a.ask("has", root=NOTES, key="from-b")["done"]
    late = bed.client(room, device="T1", role="register")  # a second connection of one device
    assert late.ask("has", root=NOTES, key="from-b")["done"]
    assert late.ask("get", root=NOTES)["value"] == {"from-a": "hello", "from-b": "hi"}


def test_a_sale_made_through_the_api_reaches_a_stock_clients_ledger(bed: Bed) -> None:
    bed.node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
    first = bed.node.sell(CASHIER, ["espresso"])
    ledger = today(bed)
    client = bed.client(ledger, device="T2", role="register")
    assert client.ask("contains", roots=list(LEDGER_ROOTS), text=first["id"])["done"]
    second = bed.node.sell(CASHIER, ["croissant"])  # live, after the client's first sync
    assert client.ask("contains", roots=list(LEDGER_ROOTS), text=second["id"])["done"]


def test_a_kds_clients_ledger_write_is_refused_and_changes_nothing(bed: Bed) -> None:
    bed.node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
    bed.node.sell(CASHIER, ["espresso"])
    ledger = today(bed)
    kds = bed.client(ledger, device="K9", role="kds")
    assert kds.ask("synced")["done"]
    rejected = bed.node.status()["counters"].get("rejected_updates", 0)
    kds.ask("set", root=NOTES, key="forged", value="by a kitchen screen")
    wait_for(
        lambda: any("Permission denied" in w for w in kds.warnings()),
        20,
        "the kds client is told permission denied",
    )
    wait_for(  # the engine counts the refusal from the session's event, which may trail the reply
        lambda: bed.node.status()["counters"].get("rejected_updates", 0) > rejected,
        20,
        "the node counts the rejected update",
    )
    fresh = bed.client(
        ledger, device="T3", role="register"
    )  # the node's copy, read after the refusal
    assert fresh.ask("synced")["done"]
    assert fresh.ask("get", root=NOTES)["value"] == {}
    reader = bed.client(ledger, token=bed.tokens["board"])  # a reader token: the same answer
    assert reader.ask("synced")["done"]
    reader.ask("set", root=NOTES, key="forged", value="by a board")
    wait_for(
        lambda: any("Permission denied" in w for w in reader.warnings()),
        20,
        "the reader is told permission denied",
    )


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        ({}, 4401),
        ({"token": "not-a-token-of-this-node"}, 4401),
        ({"room": "ledger/junk", "token": "not-a-token-of-this-node"}, 4401),  # who first
        ({"room": "ledger/junk"}, 4404),
    ],
)
def test_a_client_without_a_valid_certificate_or_token_is_closed_for_good(
    bed: Bed, credentials: dict[str, Any], code: int
) -> None:
    room = credentials.pop("room", "stoplist")
    if room != "stoplist" and not credentials:
        credentials = {"token": bed.tokens["tablet"]}
    client = bed.client(room, **credentials)
    closed = client.ask("closed")
    assert closed["done"], closed
    assert closed["code"] == code, closed
    assert closed["reconnecting"] is False, closed  # y-websocket gave up, as a 44xx code says


def test_a_stock_clients_write_reaches_the_other_nodes_and_their_clients(bed: Bed) -> None:
    host = bed.host.rpartition(".")[0] + ".20"
    config = make_device(bed.authority, bed.root, "R2", host=host)
    r2 = NodeProcess(
        config, bed.root / "R2.log", ["--no-discovery", f"--peer=R1@{bed.host}:{bed.node.port}"]
    ).start()
    try:
        wait_for(lambda: r2.status()["peers"].get("R1") is True, 20, "R2 linked", on=[r2.events])
        assert r2.ready["yjs_port"] == r2.status()["yjs_port"] == 0  # no tokens: no token listener
        on_r1 = bed.client("stoplist", token=bed.tokens["tablet"])
        on_r2 = bed.client("stoplist", device="T4", role="register", via=("R2", host, r2.port))
        assert on_r2.ask("synced")["done"]
        on_r1.ask("set", root=NOTES, key="across", value="the mesh")
        assert on_r2.ask("has", root=NOTES, key="across")["done"]
    finally:
        r2.stop()


def test_the_mesh_still_refuses_a_peer_without_a_certificate(bed: Bed) -> None:
    """Tokens make TLS take a client without a certificate: only for /yjs/, never the mesh's path."""
    before = bed.node.status()["refusals"].get("tls", 0)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(bed.root / "R1" / "identity" / CA_FILE)

    async def knock() -> bytes | None:
        """The first message the mesh sends (its hello, to a peer it accepts), None if refused."""
        try:
            conn = await dial(
                bed.host,
                bed.node.port,
                context,
                server_hostname=device_hostname("R1", bed.authority.venue_id),
                max_size=2**16,
                path=PATH,
            )
        except LinkRefused:  # the close came with the upgrade's answer
            return None
        return await conn.recv()

    assert asyncio.run(knock()) is None
    assert bed.node.status()["refusals"].get("tls", 0) == before + 1


def test_a_device_revoked_while_connected_is_closed_for_good(bed: Bed) -> None:
    client = bed.client("stoplist", device="T5", role="register")
    assert client.ask("synced")["done"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshpos",
            "revoke",
            "T5",
            "--venue",
            str(bed.authority.directory),
            "--config",
            str(bed.root / "R1.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    closed = client.ask("closed")
    assert closed["code"] == 4403, closed
    assert closed["reconnecting"] is False, closed


def test_a_token_opening_connections_too_fast_is_slowed_and_logged_once(bed: Bed) -> None:
    """Past the burst (net.yjs.ACCEPTS) a device's or token's connections are closed with 1013, which
    y-websocket retries after its backoff: counted each time, logged once."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(bed.root / "R1" / "identity" / CA_FILE)
    tries = int(ACCEPTS.burst) + 8

    async def flood() -> list[int]:
        """Each connection's close code (0: served, the node's sync step 1 came first)."""
        codes = []
        for _ in range(tries):
            async with connect(
                f"wss://{bed.host}:{bed.node.port}/yjs/stoplist",
                ssl=context,
                server_hostname=device_hostname("R1", bed.authority.venue_id),
                additional_headers={"Authorization": f"Bearer {bed.tokens['tablet']}"},
                proxy=None,
            ) as ws:
                try:
                    await ws.recv()
                    codes.append(0)
                except ConnectionClosed as closed:
                    codes.append(closed.rcvd.code if closed.rcvd else -1)
        return codes

    started = time.monotonic()
    codes = asyncio.run(flood())
    # the allowance refills at ACCEPTS.rate a second while the flood runs: a loaded machine's slow
    # handshakes earn it a few more connections (never more than that)
    refilled = math.ceil((time.monotonic() - started) * ACCEPTS.rate)
    assert codes.count(1013) >= min(1, tries - int(ACCEPTS.burst) - refilled), codes
    assert codes.count(0) <= int(ACCEPTS.burst) + refilled, codes
    assert set(codes) <= {0, 1013}
    assert bed.node.status()["refusals"]["yjs_too_often"] == codes.count(1013)
    logged = [line for line in bed.node.log.read_text().splitlines() if "yjs_too_often" in line]
    assert len(logged) == 1, logged
