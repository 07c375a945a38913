"""A stock Yjs client's update on the engine: committed before anyone gets it (docs/architecture.md (Engine)).

The engine's own test kit (a recording store that can be held, engines linked by lists) with a
``PeerKind.YJS`` connection beside a mesh peer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pycrdt import Doc, Map

from meshpos.net.port import LinkPeer, PeerKind
from meshpos.sync import SyncUpdate, encode_y_payload
from tests.engine.test_engine import VENUE, Recording, deliver, engine, linked, stop_here


async def test_a_stock_clients_update_is_committed_before_it_reaches_a_peer_or_a_client() -> None:
    log: list[str] = []
    store = Recording(log)
    a, b = await engine("A", store), await engine("B", Recording())
    wire = linked(a, b, log)
    await deliver(a, b, wire)
    watcher: list[bytes] = []

    def to_watcher(out: list[bytes]) -> None:
        watcher.extend(out)
        log.append("A->watcher")

    a.link_opened(
        "w#1", LinkPeer("yjs:W", "register", VENUE, PeerKind.YJS, document="stoplist"), to_watcher
    )
    a.link_opened(
        "c#1",
        LinkPeer("yjs:C", "register", VENUE, PeerKind.YJS, document="stoplist"),
        lambda out: None,
    )
    client: Doc[Any] = Doc(client_id=4242)
    updates: list[bytes] = []
    client.observe(lambda e: updates.append(e.update))
    client.get("test", type=Map)["k"] = "from a stock client"
    store.open.clear()  # the disk is slow
    log.clear()
    receiving = asyncio.create_task(
        a.link_messages("c#1", [encode_y_payload(SyncUpdate("stoplist", updates[0]))])
    )
    await store.waiting.wait()
    assert log == []  # held, uncommitted: passed on to nobody
    store.open.set()
    await receiving
    assert log[0] == "commit"
    assert {"A->B", "A->watcher"} <= set(log)
    assert encode_y_payload(SyncUpdate("stoplist", updates[0])) in watcher
    await deliver(a, b, wire)
    assert stop_here(b).get("k") == "from a stock client"
