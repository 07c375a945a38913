"""Security of the mesh, attacked from outside and from inside, against real nodes in one event loop.

Every attack must be refused with a clear reason, counted on the node it targets (``status().refusals`` by
kind for connections, ``counters`` / ``rejections`` for the sync protocol), logged, and must change nothing:
every document's state vector and the receipts stay as they were. The malicious peers are hand-rolled in
``attacker.py``; the nodes are real (mTLS websockets on 127.0.0.1, SQLite files, no mDNS).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from pycrdt import Doc, Map

from meshpos.config import load_config
from meshpos.engine import MAX_MESSAGE_SIZE
from meshpos.errors import MeshposError, PairingCodeInvalid
from meshpos.harness.wait import until
from meshpos.model.catalog import Catalog
from meshpos.model.ledger import Ledger
from meshpos.model.replica import decode_state_vector
from meshpos.model.sample import CASHIER
from meshpos.net.links import Links
from meshpos.net.wsconn import PATH, LinkRefused, WsConnection
from meshpos.node import Node
from meshpos.node_adapters import make_node
from meshpos.sync import SyncStep1, SyncStep2, SyncUpdate, encode
from meshpos.sync._bytes import write_var_string, write_var_uint
from meshpos.sync._codec import CHUNK, DOC
from meshpos.trust import (
    DeviceIdentity,
    VenueAuthority,
    client_ssl_context,
    device_hostname,
    enroll,
    init_venue,
    load_identity,
    serve_pairing,
)

from ..trust.helpers import device_san, issue_identity, self_signed_identity
from .attacker import (
    WAIT,
    Attacker,
    ImpostorServer,
    bare_client_context,
    ca_signed_identity,
    plain_tcp,
    raw_tls,
    trusting,
    upgrade_request,
)
from .kit import make_device, make_venue

HOST = "127.0.0.1"
DAY = "2025-11-25"
LEDGER = f"ledger/{DAY}"
KITCHEN = f"kitchen/{DAY}"
NOW = datetime.datetime(2025, 11, 25, 12, 0, tzinfo=datetime.UTC).timestamp()
NOW_MS = int(NOW * 1000)


# --- the venue and its nodes --------------------------------------------------------------------------


@dataclasses.dataclass
class Mesh:
    root: Path
    authority: VenueAuthority
    stack: contextlib.AsyncExitStack
    configs: dict[str, Path] = dataclasses.field(default_factory=dict)

    async def node(self, node_id: str, role: str = "register") -> Node:
        """Enroll ``node_id`` (first time only) and start it; stopped at the end of the test."""
        if node_id not in self.configs:
            self.configs[node_id] = make_device(
                self.authority, self.root, node_id, role=role, heartbeat_interval=0.2
            )
        config = load_config(self.configs[node_id], env={})
        return await self.stack.enter_async_context(
            make_node(config, discovery=False, clock=lambda: NOW)
        )

    def identity(self, node_id: str) -> DeviceIdentity:
        """The identity a started node holds on disk (what a thief of the device would have)."""
        return load_identity(self.root / node_id / "identity")

    def issue(self, device_id: str, role: str) -> DeviceIdentity:
        """A genuine certificate of the venue for a device that runs no node (the attacker's)."""
        return issue_identity(self.authority, device_id, role)


@pytest.fixture
async def mesh(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Mesh]:
    caplog.set_level(logging.INFO, logger="meshpos")
    async with contextlib.AsyncExitStack() as stack:
        yield Mesh(tmp_path, make_venue(tmp_path), stack)


# --- helpers ------------------------------------------------------------------------------------------


def state(node: Node) -> dict[str, Any]:
    """Every document's state vector (decoded: the byte form's client order is not canonical) and the
    receipts: what an attack must not change."""
    docs = {
        name: decode_state_vector(node.replica.doc(name).get_state())
        for name in node.replica.names()
    }
    receipts = sorted(r.id for ledger in node.venue.ledgers() for r in ledger.receipts())
    return {"docs": docs, "receipts": receipts}


def refusals(node: Node) -> dict[str, int]:
    return node.status().refusals


def was_logged(caplog: pytest.LogCaptureFixture, *fragments: str) -> Callable[[], bool]:
    return lambda: bool(logged(caplog, *fragments))


def refusals_are(node: Node, want: dict[str, int]) -> Callable[[], bool]:
    return lambda: refusals(node) == want


def counter_is(node: Node, name: str, value: int) -> Callable[[], bool]:
    return lambda: node.counters[name] == value


def logged(caplog: pytest.LogCaptureFixture, *fragments: str) -> list[str]:
    """The log lines of meshpos containing every fragment."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("meshpos") and all(f in r.getMessage() for f in fragments)
    ]


async def sell(node: Node) -> str:
    """One paid order (opening a shift first if needed): the receipt id."""
    if node.venue.open_shift() is None:
        await node.open_shift(CASHIER, 10_000)
    order = await node.open_order(CASHIER)
    await node.add_line(CASHIER, order.id, "espresso", 2)
    paid = await node.pay(CASHIER, order.id, "cash", tendered=10_000)
    assert paid.receipt is not None
    return paid.receipt.id


async def link(a: Node, b: Node) -> None:
    """Have ``a`` dial ``b`` (lower id dials first) and wait until both finished the initial sync."""
    a.add_peer(b.config.node_id, HOST, b.port)
    await until(
        lambda: (
            a.status().peers.get(b.config.node_id) is True
            and b.status().peers.get(a.config.node_id) is True
        ),
        WAIT,
        f"{a.config.node_id} and {b.config.node_id} in sync",
        on=[a, b],
    )


async def refused_dial(identity: DeviceIdentity, target: Node) -> str:
    """Dial ``target`` as ``identity`` where the node accepts TLS but refuses the peer right after the
    upgrade: the client sees the close (1008) either with the upgrade response or just after it."""
    try:
        attacker = await Attacker.dial(identity, target.config.node_id, HOST, target.port)
    except LinkRefused as exc:
        return str(exc)
    try:
        return await attacker.wait_closed()
    finally:
        await attacker.close()


# --- 1. another venue ---------------------------------------------------------------------------------


async def test_a_device_of_another_venue_is_refused_both_ways(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    r1, r2 = await mesh.node("R1"), await mesh.node("R2")
    mesh.issue("R3", "register")  # a real device of the venue, not running
    await link(r1, r2)
    receipt = await sell(r1)
    await until(lambda: state(r2)["receipts"] == [receipt], WAIT, "R2 has R1's sale", on=[r2])
    links = r1.mesh.links
    assert isinstance(links, Links)
    real_link = links.connected["R2"]
    before = {"R1": state(r1), "R2": state(r2)}
    # another CA with the very same venue id and name: only its key differs; it enrolled R2 and R3 too
    other = init_venue(mesh.root / "other-venue", "Test Venue", mesh.authority.venue_id)
    # an impostor R2 dials R1 (trusting our CA, so that only R1 can be the one refusing)
    impostor = trusting(issue_identity(other, "R2"), mesh.authority.ca_pem)
    with pytest.raises(LinkRefused):
        await Attacker.dial(impostor, "R1", HOST, r1.port)
    await until(refusals_are(r1, {"tls": 1}), WAIT, "R1 counts the impostor client")
    assert "tls: CERTIFICATE_VERIFY_FAILED" in links.recent_refusals[-1]
    assert logged(caplog, "refused 127.0.0.1:", "tls: CERTIFICATE_VERIFY_FAILED")
    assert links.connected["R2"] == real_link  # the real R2's link was not replaced

    # R1 dials an impostor R3 server (which would accept R1): R1 refuses it
    server = ImpostorServer(trusting(issue_identity(other, "R3"), mesh.authority.ca_pem))
    await server.start()
    try:
        r1.add_peer("R3", HOST, server.port)
        await until(lambda: refusals(r1).get("tls", 0) >= 2, WAIT, "R1 refuses the impostor server")
        await until(lambda: bool(server.refused), WAIT, "the impostor sees R1 abort the handshake")
        assert server.accepted == []
        assert logged(caplog, f"refused R3@{HOST}:{server.port}: tls: CERTIFICATE_VERIFY_FAILED")
    finally:
        await server.stop()
    assert set(refusals(r1)) == {"tls"}
    assert r1.status().peers == {"R2": True}
    assert r1.counters["rejected_updates"] == 0
    assert {"R1": state(r1), "R2": state(r2)} == before


# --- 2. certificates no venue CA issued, or the CA issued wrongly -------------------------------------


async def test_a_self_signed_certificate_is_refused_both_ways(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    r1 = await mesh.node("R1")
    await sell(r1)
    before = state(r1)
    forged = self_signed_identity("R2", mesh.authority)  # every name right, no CA signature
    with pytest.raises(LinkRefused):
        await Attacker.dial(forged, "R1", HOST, r1.port)
    await until(lambda: refusals(r1).get("tls") == 1, WAIT, "R1 counts the self-signed client")
    assert logged(caplog, "refused 127.0.0.1:", "tls: CERTIFICATE_VERIFY_FAILED")

    server = await ImpostorServer(forged).start()
    try:
        r1.add_peer("R2", HOST, server.port)
        await until(
            lambda: refusals(r1).get("tls", 0) >= 2, WAIT, "R1 refuses the self-signed server"
        )
        assert server.accepted == []
        assert logged(caplog, f"refused R2@{HOST}:{server.port}: tls: CERTIFICATE_VERIFY_FAILED")
    finally:
        await server.stop()
    assert r1.status().peers == {}
    assert state(r1) == before


async def test_certificates_the_venue_ca_signed_with_wrong_fields_are_refused(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    """TLS accepts these (our CA signed them); the node's own certificate check must not."""
    r1 = await mesh.node("R1")
    before = state(r1)
    venue = mesh.authority.venue_id
    cases = [
        ("venue", ca_signed_identity(mesh.authority, "K7", device_san("K7", "another-venue"))),
        (
            "certificate",  # no role, no venue
            ca_signed_identity(mesh.authority, "K8", [x509.DNSName(device_hostname("K8", venue))]),
        ),
        ("certificate", ca_signed_identity(mesh.authority, "R1", device_san("R1", venue))),
    ]
    expected: dict[str, int] = {}
    for kind, identity in cases:
        reason = await refused_dial(identity, r1)
        assert "1008" in reason or "upgrade refused" in reason, reason
        expected[kind] = expected.get(kind, 0) + 1
        await until(refusals_are(r1, dict(expected)), WAIT, f"refusals {expected}")
    assert refusals(r1) == {"venue": 1, "certificate": 2}
    assert logged(caplog, "venue: device K7 belongs to venue another-venue")
    assert logged(caplog, "certificate: certificate of 'K8' needs exactly one role URI")
    assert logged(caplog, "certificate: the peer presents our own device id")
    assert r1.status().peers == {}
    assert state(r1) == before


# --- 3. revocation ------------------------------------------------------------------------------------


async def test_a_revoked_device_is_dropped_and_refused_across_the_mesh(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    r1, r2, r3 = [await mesh.node(n) for n in ("R1", "R2", "R3")]
    await link(r1, r2)
    await link(r1, r3)
    await link(r2, r3)
    entry = mesh.authority.revoke("R2", "till stolen")

    # forged or tampered entries are refused by Node.revoke and change nothing
    other = init_venue(mesh.root / "other-venue", "Test Venue", mesh.authority.venue_id)
    issue_identity(other, "R2")
    sig = str(entry["sig"])
    bad_sig = dict(entry, sig=sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:])
    forged: list[dict[str, Any]] = [
        dict(entry, device="R3"),  # R2's signature on R3's name
        dict(entry, reason="something else"),
        dict(entry, at=int(entry["at"]) + 1),
        bad_sig,
        other.revoke("R2"),  # signed by another CA (same venue id)
        {"device": "R3", "at": entry["at"], "reason": ""},  # no signature
        dict(entry, extra="field"),
    ]
    before = state(r1)
    for bad in forged:
        with pytest.raises(MeshposError, match="revocation refused: not signed by this venue's"):
            await r1.revoke(bad)
    assert state(r1) == before
    assert not r1.is_revoked("R2")
    assert not r1.is_revoked("R3")
    assert set(r1.status().peers) == {"R2", "R3"}

    # the real entry: R1 drops R2, the entry travels to R3, which drops R2 too
    await r1.revoke(entry)
    assert r1.is_revoked("R2")
    await until(lambda: "R2" not in r1.status().peers, WAIT, "R1 drops R2", on=[r1])
    await until(lambda: r3.is_revoked("R2"), WAIT, "the revocation reaches R3", on=[r3])
    await until(lambda: "R2" not in r3.status().peers, WAIT, "R3 drops R2", on=[r3])
    assert logged(caplog, "dropping the link to R2: revoked")
    assert "R3" in r1.status().peers  # the others stay linked

    # R2's own reconnect attempts are refused by R3 (R2 dials R3) and R1's redials of R2 by R1 itself
    await until(lambda: refusals(r3).get("revoked", 0) >= 1, WAIT, "R3 refuses R2's redial")
    await until(lambda: refusals(r1).get("revoked", 0) >= 1, WAIT, "R1 refuses to relink with R2")
    assert logged(caplog, "revoked: device R2 is on the venue's deny-list")
    # a thief with R2's certificate and key, dialling R1 directly
    seen = refusals(r1)["revoked"]
    reason = await refused_dial(mesh.identity("R2"), r1)
    assert "1008" in reason or "upgrade refused" in reason, reason
    await until(lambda: refusals(r1)["revoked"] > seen, WAIT, "R1 refuses the stolen certificate")

    # nothing R2 writes from now on reaches anyone, however often it redials
    settled = {"R1": state(r1), "R3": state(r3)}
    await sell(r2)
    tries = refusals(r3)["revoked"]
    await until(lambda: refusals(r3)["revoked"] > tries, 10, "R2 redials R3 after its sale")
    assert {"R1": state(r1), "R3": state(r3)} == settled
    assert "R2" not in r1.status().peers
    assert "R2" not in r3.status().peers
    assert r1.counters["rejected_updates"] == r3.counters["rejected_updates"] == 0


async def test_a_peer_cannot_erase_a_revocation(mesh: Mesh) -> None:
    r1, r3 = await mesh.node("R1"), await mesh.node("R3")
    await mesh.node("R2")
    await link(r1, r3)
    await r1.revoke(mesh.authority.revoke("R2"))
    await until(lambda: r3.is_revoked("R2"), WAIT, "R3 learns the revocation", on=[r3])
    # a kitchen display with a genuine certificate (stolen, or compromised) deletes the entry
    evil = await Attacker.dial(mesh.issue("K1", "kds"), "R1", HOST, r1.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello(client_id=777))
        doc: Doc[Any] = Doc(client_id=777)
        doc.apply_update(await evil.fetch("denylist"))
        sv = doc.get_state()
        del doc.get("revoked", type=Map)["R2"]
        await evil.send(SyncUpdate("denylist", doc.get_update(sv)))
        # R1 applies the deletion (Yjs deletions carry no author) and writes the signed entry back
        await until(lambda: r1.counters["commits"] > 0, WAIT, "R1 commits", on=[r1])
        await until(
            lambda: (
                "R2" in r1.replica.doc("denylist").get("revoked", type=Map)
                and "R2" in r3.replica.doc("denylist").get("revoked", type=Map)
            ),
            WAIT,
            "the entry is back in the document on R1 and R3",
            on=[r1, r3],
        )
    finally:
        await evil.close()
    assert r1.is_revoked("R2")  # in memory, still refused...
    assert r3.is_revoked("R2")
    # ...until R3 restarts and reloads the deny-list from its (erased) document
    await r3.stop()
    r3 = await mesh.node("R3")
    assert r3.is_revoked("R2"), "R3 forgot that R2 is revoked"


# --- 4. no certificate, no TLS, no websocket -----------------------------------------------------------


async def test_clients_without_certificate_tls_or_websocket_are_refused(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    r1 = await mesh.node("R1")
    await sell(r1)
    before = state(r1)
    name = device_hostname("R1", mesh.authority.venue_id)
    # TLS without a client certificate: TLS 1.3 lets the client finish, the server then refuses
    assert await raw_tls(HOST, r1.port, bare_client_context(mesh.authority.ca_pem), name,
                         upgrade_request(PATH, name)) == b""  # fmt: skip
    await until(lambda: refusals(r1).get("tls") == 1, WAIT, "no client certificate")
    assert logged(caplog, "tls: PEER_DID_NOT_RETURN_A_CERTIFICATE")
    # no TLS at all: an HTTP request, then random bytes
    assert await plain_tcp(HOST, r1.port, b"GET /meshpos/v1 HTTP/1.1\r\nHost: x\r\n\r\n") == b""
    await until(lambda: refusals(r1).get("tls") == 2, WAIT, "plain HTTP")
    assert logged(caplog, "tls: HTTP_REQUEST")
    assert await plain_tcp(HOST, r1.port, random.Random(4).randbytes(512)) == b""
    await until(lambda: refusals(r1).get("tls") == 3, WAIT, "plain garbage")
    assert logged(caplog, "tls: WRONG_VERSION_NUMBER")

    # a valid certificate, but not a websocket upgrade, or the wrong path
    ctx = client_ssl_context(mesh.issue("K1", "kds"))
    reply = await raw_tls(HOST, r1.port, ctx, name, b"GET /meshpos/v1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 426 "), reply[:100]
    await until(lambda: refusals(r1).get("websocket") == 1, WAIT, "not an upgrade")
    assert logged(caplog, "websocket: bad upgrade request (missing Connection header)")
    reply = await raw_tls(HOST, r1.port, ctx, name, upgrade_request("/admin", name))
    assert reply.startswith(b"HTTP/1.1 404 "), reply[:100]
    assert b"meshpos speaks on /meshpos/v1" in reply
    await until(lambda: refusals(r1).get("websocket") == 2, WAIT, "wrong path")
    assert logged(caplog, "websocket: unknown path '/admin'")

    assert refusals(r1) == {"tls": 3, "websocket": 2}
    assert r1.status().peers == {}
    assert state(r1) == before


async def test_garbage_instead_of_an_http_request_is_refused_at_once(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    r1 = await mesh.node("R1")
    name = device_hostname("R1", mesh.authority.venue_id)
    ctx = client_ssl_context(mesh.issue("K1", "kds"))
    start = time.monotonic()
    await raw_tls(HOST, r1.port, ctx, name, b"\x00\x01 not http\r\n\r\n", read_for=1.0)
    took = time.monotonic() - start
    await until(lambda: refusals(r1).get("websocket") == 1, WAIT, "the refusal")
    assert logged(caplog, "websocket:", "did not receive a valid HTTP request")
    assert took < 1.0, f"R1 held the connection for {took:.2f} s"


# --- 5. pairing with a wrong code ----------------------------------------------------------------------


async def test_a_wrong_pairing_code_enrolls_nothing(mesh: Mesh) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[tuple[int, Any]] = loop.create_future()
    server = asyncio.create_task(
        serve_pairing(
            mesh.authority, "register", HOST, 0, on_ready=lambda p, c: ready.set_result((p, c))
        )
    )
    port, code = await asyncio.wait_for(ready, WAIT)
    wrong = f"{(int(code.digits) + 1) % 10**10:010d}"
    target = mesh.root / "R7" / "identity"
    with pytest.raises(PairingCodeInvalid, match="pairing code rejected"):
        await enroll(f"ws://{HOST}:{port}", wrong, "R7", target)
    with pytest.raises(PairingCodeInvalid, match="wrong pairing code"):
        await asyncio.wait_for(server, WAIT)
    assert not target.exists() or list(target.iterdir()) == []
    assert "R7" not in mesh.authority.issued()


# --- 6. a kitchen display writing money or the menu ----------------------------------------------------


async def test_a_kds_cannot_write_the_ledger_or_the_catalog(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    r1, r3 = await mesh.node("R1"), await mesh.node("R3")
    await link(r1, r3)
    receipt = await sell(r1)
    await until(lambda: state(r3)["receipts"] == [receipt], WAIT, "R3 has R1's sale", on=[r3])
    before = {"R1": state(r1), "R3": state(r3)}
    shift = r1.venue.open_shift()
    assert shift is not None

    evil = await Attacker.dial(mesh.issue("K1", "kds"), "R1", HOST, r1.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello("kds", client_id=31337))
        # a kds may read the ledger; it builds a cash-out on top of what it read...
        ledger: Doc[Any] = Doc(client_id=31337)
        ledger.apply_update(await evil.fetch(LEDGER))
        sv = ledger.get_state()
        Ledger(ledger, DAY).write(
            "cash_moves",
            "evil-move",
            {"shift_id": shift.id, "kind": "out", "amount": 9_000, "reason": "", "user": CASHIER,
             "at": NOW_MS},
        )  # fmt: skip
        await evil.send(SyncUpdate(LEDGER, ledger.get_update(sv)))
        # ...and a free espresso in the catalog, as a sync step 2 this time
        catalog: Doc[Any] = Doc(client_id=31337)
        catalog.apply_update(await evil.fetch("catalog"))
        sv = catalog.get_state()
        menu = Catalog(catalog)
        menu.put_product(dataclasses.replace(menu.product("espresso"), price=0))
        await evil.send(SyncStep2("catalog", catalog.get_update(sv)))
        await until(lambda: r1.counters["rejected_updates"] == 2, WAIT, "R1 rejects both updates")
        assert [(r.node, r.doc, r.reason) for r in r1.rejections] == [
            ("K1", LEDGER, f"a kds may not write {LEDGER}"),
            ("K1", "catalog", "a kds may not write catalog"),
        ]
        assert logged(
            caplog, f"rejected update for {LEDGER} from K1", f"a kds may not write {LEDGER}"
        )
        assert logged(caplog, "rejected update for catalog from K1", "a kds may not write catalog")
        assert state(r1) == before["R1"]
        assert "evil-move" not in {m.id for m in r1.venue.ledger(DAY).cash_moves()}
        assert r1.venue.catalog.product("espresso").price > 0

        # what a kds may write goes through R1 to R3; had R1 forwarded the ledger update, it would
        # have reached R3 before this one (one link, in order)
        kitchen: Doc[Any] = Doc(client_id=31337)
        kitchen.get("probe", type=Map)["from"] = "K1"
        await evil.send(SyncUpdate(KITCHEN, kitchen.get_update()))
        await until(
            lambda: (
                r3.replica.has(KITCHEN)
                and r3.replica.doc(KITCHEN).get("probe", type=Map).get("from") == "K1"
            ),
            WAIT,
            "R3 receives the kds's kitchen update through R1",
        )
    finally:
        await evil.close()
    after = state(r3)
    assert {n: sv for n, sv in after["docs"].items() if n != KITCHEN} == {
        n: sv for n, sv in before["R3"]["docs"].items() if n != KITCHEN
    }
    assert after["receipts"] == before["R3"]["receipts"]
    assert "evil-move" not in {m.id for m in r3.venue.ledger(DAY).cash_moves()}
    assert r3.counters["rejected_updates"] == 0  # it never even saw the forbidden updates


# --- 7. a kds certificate claiming to be a register -----------------------------------------------------


async def test_a_hello_whose_role_differs_from_the_certificate_is_refused(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    r1 = await mesh.node("R1")
    await sell(r1)
    before = state(r1)
    evil = await Attacker.dial(mesh.issue("K1", "kds"), "R1", HOST, r1.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello("register", client_id=4711))
        # were the claim believed, this would be a register's ledger update
        ledger: Doc[Any] = Doc(client_id=4711)
        ledger.get("cash_moves", type=Map)["evil-move"] = {"kind": "out", "amount": 9_000}
        await evil.send(SyncUpdate(LEDGER, ledger.get_update()))
        await evil.wait_closed()
    finally:
        await evil.close()
    expected = "hello: field 'role' is 'register' but the certificate says 'kds'"
    assert evil.byes == [f"remote_protocol_error: {expected}"]
    await until(lambda: r1.counters["protocol_errors"] == 1, WAIT, "R1 counts the protocol error")
    assert logged(caplog, f"closing session with (no hello yet): {expected}")
    assert logged(caplog, "link with K1#", f"closed: {expected}")
    assert r1.counters["rejected_updates"] == 0  # never got as far as the write rules
    assert r1.status().peers == {}
    assert state(r1) == before


# --- 8. malformed and oversized messages ---------------------------------------------------------------


def _doc_message(doc: str, y_payload: bytes) -> bytes:
    return bytes([DOC]) + write_var_string(doc) + y_payload


async def test_malformed_and_oversized_messages_close_the_link_and_change_nothing(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    r1, r2 = await mesh.node("R1"), await mesh.node("R2")
    await sell(r1)
    before = state(r1)
    garbage = b"\xee" + random.Random(8).randbytes(200)
    oversized_sync = _doc_message(KITCHEN, b"\x00\x02" + b"\x00" * (MAX_MESSAGE_SIZE + 10))
    # (a valid hello first?, the bad message, the reason in R1's Bye and log line)
    cases: list[tuple[bool, bytes, str]] = [
        (False, garbage, "message type: unknown type byte 0xee"),  # garbage instead of a hello
        (False, b"\x01{not json", "hello: not valid JSON"),
        (False, encode(SyncUpdate(KITCHEN, b"\x00\x00")), "SyncUpdate received before the peer's hello"),
        (True, garbage, "message type: unknown type byte 0xee"),
        (True, b"", "message: empty"),
        (True, _doc_message(KITCHEN, b"\x00\x02\x05\x01\x02\x03\x04\x05"), "sync update: not a valid Yjs update"),
        (True, _doc_message("ledger/../../etc", b"\x00\x02\x00"), "not a known document"),
        (True, bytes([CHUNK]) + write_var_string(KITCHEN) + write_var_uint(0)
         + write_var_uint(2**40) + b"x", "exceeds the payload limit"),
        (True, oversized_sync, f"exceeds the limit of {MAX_MESSAGE_SIZE} bytes"),
    ]  # fmt: skip
    for i, (hello_first, bad, reason) in enumerate(cases):
        evil = await Attacker.dial(mesh.issue(f"K{i}", "kds"), "R1", HOST, r1.port)
        try:
            await evil.wait_for_hello()
            if hello_first:
                await evil.send(evil.hello(client_id=1000 + i))
            await evil.send_raw(bad)
            await evil.wait_closed()
        finally:
            await evil.close()
        assert len(evil.byes) == 1, (reason, evil.byes)
        assert reason in evil.byes[0], (reason, evil.byes)
        await until(counter_is(r1, "protocol_errors", i + 1), WAIT, f"protocol error {i + 1}")
        who = f"K{i}" if hello_first else "(no hello yet)"
        assert logged(caplog, f"closing session with {who}: ", reason), reason
        assert state(r1) == before, reason

    # above the websocket limit the frame itself is refused (1009) before any of it is read
    evil = await Attacker.dial(mesh.issue("K99", "kds"), "R1", HOST, r1.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello(client_id=999))
        await evil.send_raw(b"\x02" + b"\x00" * (MAX_MESSAGE_SIZE + 8192))
        closed = await evil.wait_closed()
    finally:
        await evil.close()
    assert "1009" in closed, closed
    await until(
        lambda: bool(logged(caplog, "link with K99 closed: bad websocket data", "exceeds limit")),
        WAIT,
        "R1 logs why it closed the link",
    )
    assert state(r1) == before
    # all of these were authenticated: only the oversized frame is refused, by the websocket layer
    assert refusals(r1) == {"websocket": 1}

    # and R1 still works: a good peer links, and a sale on either side reaches the other
    await link(r1, r2)
    theirs = await sell(r2)
    await until(lambda: theirs in state(r1)["receipts"], WAIT, "R2's sale reaches R1", on=[r1])
    ours = await sell(r1)
    await until(lambda: ours in state(r2)["receipts"], WAIT, "R1's sale reaches R2", on=[r2])


async def test_websocket_level_violations_are_counted(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    r1 = await mesh.node("R1")
    for i, reason in enumerate(["peer sent a text message", "bad websocket data"]):
        evil = await Attacker.dial(mesh.issue(f"K{i}", "kds"), "R1", HOST, r1.port)
        try:
            await evil.wait_for_hello()
            await evil.send(evil.hello(client_id=100 + i))
            if i == 0:
                await evil.send_text("hello?")
            else:
                await evil.send_raw(b"\x02" + b"\x00" * (MAX_MESSAGE_SIZE + 8192))
            await evil.wait_closed()
        finally:
            await evil.close()
        await until(was_logged(caplog, f"link with K{i} closed", reason), WAIT, reason)
    counted = r1.counters["protocol_errors"] + sum(refusals(r1).values())
    assert counted == 2, f"counters {dict(r1.counters)}, refusals {refusals(r1)}"


async def test_a_peer_asking_for_unknown_days_opens_no_documents(mesh: Mesh) -> None:
    r1, r3 = await mesh.node("R1"), await mesh.node("R3")
    await link(r1, r3)
    before = {"R1": r1.replica.names(), "R3": r3.replica.names()}
    evil = await Attacker.dial(mesh.issue("K1", "kds"), "R1", HOST, r1.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello(client_id=5150))
        days = [f"ledger/1990-01-{d:02d}" for d in range(1, 29)]
        for name in days:
            await evil.send(SyncStep1(name, b"\x00"))
        await evil.expect(lambda m: isinstance(m, SyncStep2) and m.doc == days[-1], "replies")
    finally:
        await evil.close()
    await link(r1, r3)  # R1 and R3 are still linked and in sync...
    assert {"R1": r1.replica.names(), "R3": r3.replica.names()} == before


# --- the redial loop -----------------------------------------------------------------------------------


async def test_a_peer_that_closes_at_once_is_redialled_with_backoff(mesh: Mesh) -> None:
    r1 = await mesh.node("R1")
    opened: list[float] = []

    async def close_at_once(conn: WsConnection) -> None:  # read R1's hello, then close the link
        await conn.recv()
        opened.append(time.monotonic())
        await conn.close(1008, "refused")

    server = await ImpostorServer(mesh.issue("R2", "register"), on_open=close_at_once).start()
    try:
        r1.add_peer("R2", HOST, server.port)
        await until(lambda: len(opened) >= 4, WAIT, "four links")
    finally:
        await server.stop()
    # backoff_min is 0.2 s (x 0.5-1.5 jitter, doubling): three waits take 0.35 s at the very least
    assert opened[3] - opened[0] >= 0.3, f"redialled 3 times in {opened[3] - opened[0]:.3f} s"
