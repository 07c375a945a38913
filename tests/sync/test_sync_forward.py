"""Forwarding before the commit (issue 18), driven by hand: a node passes a peer's update on at once,
and nothing that tells a peer what it holds, nor a change only it holds, leaves before its commit
(sync._commits.Commits; docs/architecture.md (Engine)). No network, no sleeps; the engine's part (the
drains and commits) is played by ``commit``."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Map

from meshpos.sync import Synchronizer, SyncUpdate, decode, encode_y_payload
from meshpos.sync._messages import Heartbeat, SyncStep1
from tests.sync.helpers import commit, items_node, sync_pair
from tests.sync.helpers import items as _items

DOC = "stoplist"


def node(name: str, *, early: bool = False) -> Synchronizer:
    return items_node(name, DOC, early=early, client_base=1000)


def write(sync: Synchronizer, key: str, value: str) -> None:
    sync.docs[DOC].get("items", type=Map)[key] = value


def kinds(out: list[bytes]) -> list[str]:
    return [type(decode(data, 2**20)).__name__ for data in out if data]


def deliver(src: Synchronizer, key: str, dst: Synchronizer, dkey: str) -> list[bytes]:
    out = src.data_to_send(key)
    for data in out:
        if data:
            dst.receive_data(dkey, data)
        else:
            dst.receive_eof(dkey)
    return out


def line() -> tuple[Synchronizer, Synchronizer, Synchronizer, dict[str, str]]:
    """A - B - C, B forwarding before its commits; keys: each side's name for the other."""
    a, b, c = node("A"), node("B", early=True), node("C")
    ab, ba = sync_pair_committing(a, b)
    bc, cb = sync_pair_committing(b, c)
    return a, b, c, {"ab": ab, "ba": ba, "bc": bc, "cb": cb}


def sync_pair_committing(x: Synchronizer, y: Synchronizer) -> tuple[str, str]:
    """:func:`sync_pair`, committing on the way as an engine would, until both are quiet."""
    kx, ky = sync_pair(x, y)
    for _ in range(10):
        commit(x)
        commit(y)
        if not deliver(x, kx, y, ky) and not deliver(y, ky, x, kx):
            break
    return kx, ky


def test_a_peers_update_is_forwarded_before_the_commit_and_claims_wait_for_it() -> None:
    a, b, c, k = line()
    write(a, "espresso", "out")
    commit(a)
    deliver(a, k["ab"], b, k["ba"])  # B applies A's change and has not committed it
    out = deliver(b, k["bc"], c, k["cb"])
    assert kinds(out) == ["SyncUpdate"]  # passed on at once
    assert items(c) == {"espresso": "out"}
    b.tick(100.0)  # a heartbeat and an anti-entropy step 1 for C: they tell what B holds
    assert deliver(b, k["bc"], c, k["cb"]) == []  # ... so they wait for the commit
    assert "B" not in c.held_by(DOC) or c.held_by(DOC)["B"].get(a.client_id, 0) == 0
    commit(b)
    out = deliver(b, k["bc"], c, k["cb"])
    assert {"Heartbeat", "SyncStep1"} <= set(kinds(out))
    assert c.held_by(DOC)["B"].get(a.client_id, 0) > 0  # now committed: now counted


def test_a_local_write_waits_for_its_commit_and_a_peers_update_may_pass_it() -> None:
    a, b, c, k = line()
    write(b, "croissant", "out")  # B's own change: B holds the only copy
    assert b.data_to_send(k["bc"]) == []
    write(a, "espresso", "out")
    commit(a)
    deliver(a, k["ab"], b, k["ba"])
    out = deliver(b, k["bc"], c, k["cb"])
    assert kinds(out) == ["SyncUpdate"]  # A's, not B's
    assert items(c) == {"espresso": "out"}
    commit(b)
    deliver(b, k["bc"], c, k["cb"])
    assert items(c) == {"espresso": "out", "croissant": "out"}


def test_a_goodbye_leaves_after_what_waited_and_the_session_is_kept_until_then() -> None:
    _, b, _, k = line()
    write(b, "burger", "out")
    b.close(k["bc"], "leaving")
    assert b.data_to_send(k["bc"]) == []
    assert k["bc"] in b.sessions  # kept: its messages are still to go
    commit(b)
    out = b.data_to_send(k["bc"])
    assert kinds(out) == ["SyncUpdate", "Bye"]
    assert out[-1] == b""
    assert k["bc"] not in b.sessions


def test_a_stock_yjs_clients_update_is_committed_before_it_is_forwarded() -> None:
    _, b, c, k = line()
    b.connect_yjs("yjs", doc=DOC, name="yjs:y", role="register")
    b.data_to_send("yjs")
    client: Doc[Any] = Doc(client_id=77)
    updates: list[bytes] = []
    sub = client.observe(lambda e: updates.append(e.update))
    client.get("items", type=Map)["fries"] = "out"
    client.unobserve(sub)
    b.receive_data("yjs", encode_y_payload(SyncUpdate(DOC, updates[0])))
    assert items(b) == {"fries": "out"}
    assert b.data_to_send(k["bc"]) == []  # B holds the only durable copy: commit first
    commit(b)
    deliver(b, k["bc"], c, k["cb"])
    assert items(c) == {"fries": "out"}


def test_without_forwarding_before_the_commit_nothing_is_held() -> None:
    """The console's synchronizer (and the simulation's) keep the engine's commit-then-forward: the
    sessions hold nothing back and the engine flushes only after its last commit."""
    a, b = node("A"), node("B")
    ka, _ = sync_pair(a, b)
    write(a, "lemonade", "out")
    a.tick(100.0)
    out = a.data_to_send(ka)
    assert {"SyncUpdate", "Heartbeat"} <= set(kinds(out))
    assert a.drained == 0


def test_held_messages_keep_their_order() -> None:
    _, b, _, k = line()
    b.tick(100.0)  # heartbeat, step 1
    write(b, "k1", "v1")
    write(b, "k2", "v2")
    commit(b)
    out = [decode(data, 2**20) for data in b.data_to_send(k["bc"]) if data]
    assert isinstance(out[0], Heartbeat)
    assert [type(m).__name__ for m in out[-2:]] == ["SyncUpdate", "SyncUpdate"]
    assert any(isinstance(m, SyncStep1) for m in out)


def test_a_change_forwarded_to_several_links_is_encoded_once_and_each_gets_the_same_bytes() -> None:
    """(issue 18, sendpath) A change going to several peers is encoded once and the same bytes are
    queued on every link, whatever its size: each session encoded it again (a last-encoding cache
    covered small ones only; a catch-up's large change was encoded once per link)."""
    hub = node("H")
    peers = [node(name) for name in ("P", "Q", "R")]
    keys = [sync_pair_committing(hub, peer) for peer in peers]
    write(hub, "big", "x" * 100_000)  # past the old cache's 64 KiB, under a message's 1 MiB
    commit(hub)
    sent = [hub.data_to_send(k) for k, _ in keys]
    updates = [[d for d in out if kinds([d]) == ["SyncUpdate"]] for out in sent]
    assert all(len(u) == 1 for u in updates)
    assert updates[0][0] is updates[1][0] is updates[2][0]  # one encoding, shared
    for peer, (_, kp), out in zip(peers, keys, sent, strict=True):
        for data in out:
            peer.receive_data(kp, data)
        assert items(peer)["big"] == "x" * 100_000


def items(sync: Synchronizer) -> dict[str, object]:
    return _items(sync, DOC)
