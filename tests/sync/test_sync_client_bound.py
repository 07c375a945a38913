"""A document holds changes of at most ``MAX_DOC_CLIENTS`` client ids (outside: a malicious enrolled
device; ``sync/_updates.py``).

The heartbeat's decoder takes at most ``MAX_STATE_CLIENTS`` (4,096) client ids per state vector. An
enrolled register that wrote a day's changes under 4,200 made-up client ids (5,000 when found) (one small update, ~60 kB)
had them taken by every node, the console too; the console's state of that day no longer decoded, and
every node closed its session with the console on every heartbeat ("field 'console' ... is not a state
vector"): nothing reached the console again, at the whole venue. Now such an update is refused by name
(``UpdateRejected``), nothing of it is taken, and the venue syncs on."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.model.replica import decode_state_vector
from meshpos.sync import PeerClosed, SyncEvent, Synchronizer, UpdateRejected, _updates
from meshpos.sync._bodies import decode_heartbeat, heartbeat_body
from meshpos.sync._messages import SyncUpdate
from meshpos.sync._updates import MAX_DOC_CLIENTS, TOO_MANY_CLIENTS, clients_past_bound
from meshpos.sync.memory import MemoryNetwork

from .test_sync_console_signed import node, sell
from .test_sync_topology import DOC


def _authored_by(clients: range) -> bytes:
    """One update holding a change of each client id in ``clients``."""
    whole: Doc[Any] = Doc()
    for client in clients:
        one: Doc[Any] = Doc(client_id=client)
        one.get("junk", type=Map)[f"k{client}"] = 1
        whole.apply_update(one.get_update())
    return whole.get_update()


def _send(device: Synchronizer, update: bytes) -> None:
    """``update`` on every link of ``device``, as a device built to attack would send it."""
    for session in device.sessions.values():
        session.send(SyncUpdate(DOC, update))


def _clients(doc: Doc[Any]) -> int:
    return len(decode_state_vector(doc.get_state()))


def test_the_bound_is_read_off_the_header_until_a_document_nears_it() -> None:
    one = _authored_by(range(99_999, 100_000))
    assert clients_past_bound(one, {}) == 0
    near = dict.fromkeys(range(1, MAX_DOC_CLIENTS + 1), 1)  # a document at the bound
    assert clients_past_bound(one, near) == 1
    assert clients_past_bound(_authored_by(range(1, 3)), near) == 0  # (ids it holds already)
    many = _authored_by(range(1000, 1000 + MAX_DOC_CLIENTS + 5))
    assert clients_past_bound(many, {}) == 5


def test_a_device_writing_under_thousands_of_client_ids_is_refused_and_the_venue_syncs_on() -> None:
    events: list[tuple[str, SyncEvent]] = []
    net = MemoryNetwork(random.Random(1), listener=lambda n, e: events.append((n, e)))
    console, honest, evil = (
        node("console", "console", None),
        node("R1", "register", None),
        node("R9", "register", None),
    )
    for sync in (console, honest, evil):
        net.add(sync)
    net.advance(2.0, step=0.05)
    _send(evil, _authored_by(range(10_000, 14_200)))
    net.advance(3.0, step=0.05)

    for sync in (console, honest):
        assert _clients(sync.docs[DOC]) < 10  # nothing of it taken
    refused = {(n, e.node) for n, e in events if isinstance(e, UpdateRejected)}
    assert ("console", "R9") in refused
    assert ("R1", "R9") in refused
    assert all(
        e.reason == TOO_MANY_CLIENTS
        for _, e in events
        if isinstance(e, UpdateRejected) and e.node == "R9"
    )
    # the console's word still decodes, and no session with it closed over it
    decode_heartbeat(heartbeat_body(console._heartbeat()))
    assert not [(n, e) for n, e in events if isinstance(e, PeerClosed) and "console" in (n, e.node)]
    sold = sell(honest)  # and an honest sale still reaches the console
    net.advance(2.0, step=0.05)
    held = decode_state_vector(console.docs[DOC].get_state())
    assert all(held.get(client, 0) >= clock for client, clock in sold.items())


@pytest.mark.parametrize("extra", [0, 1])
def test_a_document_takes_changes_up_to_the_bound_and_none_past_it(
    extra: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_updates, "MAX_DOC_CLIENTS", 64)  # (the same rule, a smaller venue's day)
    net = MemoryNetwork(random.Random(2))
    console, evil = node("console", "console", None), node("R9", "register", None)
    for sync in (console, evil):
        net.add(sync)
    net.advance(2.0, step=0.05)
    before = _clients(console.docs[DOC])
    room = _updates.MAX_DOC_CLIENTS - before
    _send(evil, _authored_by(range(50_000, 50_000 + room + extra)))
    net.advance(3.0, step=0.05)
    assert _clients(console.docs[DOC]) == (64 if not extra else before)
