"""A stock Yjs client's session in the synchronizer, driven by hand (sync._yjs; no network, no sleeps).

The client here is a pycrdt document speaking the bare y-protocols messages y-websocket sends, byte for
byte (``encode_y_payload``: the codec's tests check those against y-protocols).
"""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.errors import LocalProtocolError
from meshpos.lib0 import Reader, write_var_bytes, write_var_string, write_var_uint
from meshpos.sync import (
    AwarenessUpdate,
    DocumentChanged,
    PeerClosed,
    PeerJoined,
    PeerLive,
    SyncConfig,
    Synchronizer,
    SyncStep1,
    SyncUpdate,
    UpdateRejected,
    encode_y_payload,
    read_close,
)
from meshpos.sync._session import SessionConfig
from meshpos.sync._yjs import (
    CLOSE_GOING_AWAY,
    CLOSE_MALFORMED,
    KEEPALIVE,
    MAX_AWARENESS_BYTES,
    MAX_CLIENT_IDS,
    Y_AUTH,
    YjsSession,
)
from tests.sync.helpers import VENUE, pump, sync_pair

LEDGER = "ledger/2026-11-01"
KITCHEN = "kitchen/2026-11-01"


def node(name: str = "R1", role: str = "register", **config: Any) -> Synchronizer:
    sync = Synchronizer(
        venue=VENUE,
        node_id=name,
        role=role,
        client_id=1000 + sum(map(ord, name)),
        config=SyncConfig(**config),
    )
    sync.tick(0.0)
    return sync


class Client:
    """A stock client: its own document, and what the node sent it."""

    def __init__(self, sync: Synchronizer, key: str, doc: str, role: str, client_id: int) -> None:
        self.sync, self.key, self.name = sync, key, doc
        self.doc: Doc[Any] = Doc(client_id=client_id)
        self.received: list[bytes] = []
        sync.connect_yjs(key, doc=doc, name=f"yjs:{key}", role=role)

    def send(self, data: bytes) -> None:
        self.sync.receive_data(self.key, data)

    def drain(self) -> list[bytes]:
        """What the node queued for this client, applied the way y-websocket applies it."""
        out = self.sync.data_to_send(self.key)
        for message in out:
            reader = Reader(message)
            if message and reader.read_var_uint("type") == 0:
                sub = reader.read_var_uint("sub")
                body = reader.read_var_bytes("body")
                if sub in (1, 2):
                    self.doc.apply_update(body)
        self.received += out
        return out

    def write(self, key: str, value: str, root: str = "notes") -> bytes:
        updates: list[bytes] = []
        sub = self.doc.observe(lambda e: updates.append(e.update))
        self.doc.get(root, type=Map)[key] = value
        self.doc.unobserve(sub)
        self.send(encode_y_payload(SyncUpdate(self.name, updates[0])))
        return updates[0]

    def notes(self) -> dict[str, Any]:
        return dict(self.doc.get("notes", type=Map).to_py() or {})


def test_two_clients_of_one_document_see_each_others_writes_and_no_peer_is_reported() -> None:
    sync = node()
    a = Client(sync, "a", LEDGER, "register", 11)
    b = Client(sync, "b", LEDGER, "register", 12)
    a.write("x", "from a")
    events = sync.events_received()
    assert [type(e) for e in events] == [DocumentChanged]  # no PeerJoined / PeerLive: not peers
    assert not any(isinstance(e, PeerJoined | PeerLive) for e in events)
    b.drain()
    assert b.notes() == {"x": "from a"}
    assert not [m for m in a.drain() if m[:2] == bytes([0, 2])]  # its own update is not echoed


def test_a_client_is_asked_for_its_document_when_it_connects_and_sent_it_whole() -> None:
    sync = node(session=SessionConfig(max_message_size=1024))
    doc = sync.open_doc(LEDGER)
    doc.get("notes", type=Map)["big"] = "x" * 10_000  # far over one mesh message: never chunked
    sync.events_received()
    client = Client(sync, "c", LEDGER, "register", 13)
    first = client.drain()
    assert first
    assert first[0][:2] == bytes([0, 0])  # sync step 1
    client.send(encode_y_payload(SyncStep1(LEDGER, client.doc.get_state())))
    sent = client.drain()
    assert len(sent) == 1  # one step 2, whole
    assert sent[0][:2] == bytes([0, 1])
    assert client.notes() == {"big": "x" * 10_000}


def test_a_role_that_may_not_write_gets_permission_denied_and_nothing_changes() -> None:
    sync = node()
    sync.open_doc(LEDGER)
    kds = Client(sync, "k", LEDGER, "kds", 14)
    assert not any(m[:2] == bytes([0, 0]) for m in kds.drain())  # a reader is never asked
    kds.write("forged", "by a kitchen screen")
    assert [m for m in kds.drain() if m[0] == Y_AUTH] == [
        write_var_uint(Y_AUTH)
        + write_var_uint(0)
        + write_var_string(f"a kds Yjs client may not write {LEDGER}: nothing was changed")
    ]
    events = sync.events_received()
    assert [type(e) for e in events] == [UpdateRejected]
    assert dict(sync.docs[LEDGER].get("notes", type=Map).to_py() or {}) == {}


def test_a_register_client_may_not_write_the_catalog_a_register_node_only_forwards() -> None:
    sync = node()
    sync.open_doc("catalog")
    client = Client(sync, "r", "catalog", "register", 15)
    client.write("price", "0")
    assert any(m[0] == Y_AUTH for m in client.drain())
    assert [type(e) for e in sync.events_received()] == [UpdateRejected]


def test_a_clients_new_client_id_is_learnt_so_the_authorship_rule_applies_to_it() -> None:
    sync = node()
    kitchen = Client(sync, "k", KITCHEN, "kds", 21)
    kitchen.write("ticket", "t1")
    ledger = Client(sync, "r", LEDGER, "register", 22)
    forged: list[bytes] = []
    other: Doc[Any] = Doc(
        client_id=21
    )  # the kds client's id, on a ledger, sent by a register's client
    sub = other.observe(lambda e: forged.append(e.update))
    other.get("notes", type=Map)["x"] = "forged"
    other.unobserve(sub)
    sync.events_received()
    ledger.send(encode_y_payload(SyncUpdate(LEDGER, forged[0])))
    rejected = [e for e in sync.events_received() if isinstance(e, UpdateRejected)]
    assert [e.reason for e in rejected] == [
        "carries changes authored by a role that may not write it"
    ]


def test_a_connection_teaches_a_bounded_number_of_client_ids() -> None:
    sync = node()
    client = Client(sync, "r", LEDGER, "register", 30)
    for n in range(MAX_CLIENT_IDS + 4):
        writer: Doc[Any] = Doc(client_id=100 + n)
        updates: list[bytes] = []
        sub = writer.observe(lambda e, u=updates: u.append(e.update))
        writer.get("notes", type=Map)[str(n)] = n
        writer.unobserve(sub)
        client.send(encode_y_payload(SyncUpdate(LEDGER, updates[0])))
    session = sync.sessions["r"]
    assert isinstance(session, YjsSession)
    assert len(session.client_ids) == MAX_CLIENT_IDS


def test_updates_from_the_mesh_reach_a_client_and_a_clients_reach_the_mesh() -> None:
    a, b = node("A"), node("B")
    sync_pair(a, b)
    client = Client(a, "c", LEDGER, "register", 40)
    client.write("k", "from the client")
    for data in a.data_to_send("B#x"):
        b.receive_data("A#x", data)
    assert dict(b.docs[LEDGER].get("notes", type=Map).to_py() or {}) == {"k": "from the client"}
    b.docs[LEDGER].get("notes", type=Map)["m"] = "from the mesh"
    for data in b.data_to_send("A#x"):
        a.receive_data("B#x", data)
    client.drain()
    assert client.notes() == {"k": "from the client", "m": "from the mesh"}


def test_awareness_goes_to_every_client_and_a_leaving_clients_state_is_removed() -> None:
    sync = node()
    a = Client(sync, "a", LEDGER, "register", 50)
    b = Client(sync, "b", LEDGER, "register", 51)
    a.drain()
    b.drain()
    state = write_var_uint(1) + write_var_uint(50) + write_var_uint(1) + write_var_string('{"u":1}')
    a.send(encode_y_payload(AwarenessUpdate(LEDGER, state)))
    wire = bytes([1]) + write_var_bytes(state)
    assert a.drain() == [wire]  # the sender too (y-websocket's server echoes it)
    assert b.drain() == [wire]
    late = Client(sync, "c", LEDGER, "register", 52)
    assert wire in late.drain()  # a newcomer gets the states known
    sync.receive_eof("a")
    removed = write_var_uint(1) + write_var_uint(50) + write_var_uint(2) + write_var_string("null")
    assert b.drain() == [bytes([1]) + write_var_bytes(removed)]


def test_a_malformed_message_closes_for_good_and_a_stop_closes_to_come_back() -> None:
    sync = node()
    bad = Client(sync, "bad", LEDGER, "register", 60)
    bad.drain()
    bad.send(bytes([9, 9]))
    out = bad.drain()
    assert read_close(out[-1]) == (CLOSE_MALFORMED, "y-protocols message type: unknown type 9")
    good = Client(sync, "good", LEDGER, "register", 61)
    good.drain()
    sync.close("good", "node shutting down")
    assert read_close(good.drain()[-1]) == (CLOSE_GOING_AWAY, "node shutting down")


def test_a_quiet_client_gets_a_keepalive_and_is_never_timed_out() -> None:
    sync = node()
    client = Client(sync, "q", LEDGER, "register", 70)
    client.drain()
    sync.tick(KEEPALIVE / 2)
    assert client.drain() == []
    sync.tick(KEEPALIVE * 100)  # far past any idle timeout of a mesh session
    assert client.drain() == [bytes([1]) + write_var_bytes(write_var_uint(0))]
    assert "q" in sync.sessions


def test_only_a_document_of_the_venue_may_be_opened() -> None:
    sync = node()
    with pytest.raises(LocalProtocolError, match="not a known document"):
        sync.connect_yjs("x", doc="ledger/junk", name="yjs:x", role="register")
    assert "x" not in sync.sessions


def test_a_node_that_does_not_carry_a_document_takes_no_writes_to_it() -> None:
    """A kds node forwards no ledger: a register's client writing one there would be stranded."""
    sync = node("K1", role="kds")
    client = Client(sync, "r", LEDGER, "register", 80)
    client.write("sale", "stranded")
    assert [m for m in client.drain() if m[0] == Y_AUTH] == [
        write_var_uint(Y_AUTH)
        + write_var_uint(0)
        + write_var_string(
            f"this node is a kds, which does not carry {LEDGER}: nothing was changed "
            "(connect to a register)"
        )
    ]
    assert [type(e) for e in sync.events_received()] == [UpdateRejected]
    assert LEDGER not in sync.docs


def test_a_large_awareness_state_closes_the_connection() -> None:
    sync = node()
    client = Client(sync, "a", LEDGER, "register", 81)
    client.drain()
    state = (
        write_var_uint(1)
        + write_var_uint(81)
        + write_var_uint(1)
        + write_var_string('"' + "x" * MAX_AWARENESS_BYTES + '"')
    )
    client.send(encode_y_payload(AwarenessUpdate(LEDGER, state)))
    close = read_close(client.drain()[-1])
    assert close is not None
    assert close[0] == CLOSE_MALFORMED


def test_a_nodes_heartbeats_name_no_stock_client_and_its_peers_keep_their_link() -> None:
    """A stock client's name is no node id: a heartbeat listing it was refused by every peer."""
    a, b = node("A"), node("B")
    ka, kb = sync_pair(a, b)
    client = Client(a, "c", LEDGER, "register", 90)
    client.drain()
    a.events_received()
    b.events_received()
    a.tick(a.config.heartbeat_interval * 2)
    pump(a, ka, b, kb)
    assert not [e for e in b.events_received() if isinstance(e, PeerClosed)]
    assert kb in b.sessions


def test_no_client_writes_the_deny_list_which_only_the_venues_authority_signs() -> None:
    sync = node()
    sync.open_doc("denylist")
    client = Client(sync, "r", "denylist", "register", 95)
    client.write("entry", "junk")
    assert any(m[0] == Y_AUTH for m in client.drain())
    assert [type(e) for e in sync.events_received()] == [UpdateRejected]
