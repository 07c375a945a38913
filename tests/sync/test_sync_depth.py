"""``sync/_depth.Depths``: how deep each shared type of a document lies, known across updates (part
deep, the twenty-fourth session; the real node is ``tests/outside/test_deep_update.py``).

Chains of maps built by pycrdt itself (parents named by id, origins when a key is set again, several
authors) are taken up to depth 64 in every delivery order, whole or update by update, and refused at
65 whatever the order: in one update, one level per update, or a chain planted ahead of the item it
hangs on. Every update the model writes (a day of sales, an N−1 node's orders) passes, and a refused
update leaves the index as it was."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.bench.mesh_parts import _register, _sell
from meshpos.lib0 import write_var_string, write_var_uint
from meshpos.sync import Hello, PeerClosed, SyncUpdate
from meshpos.sync._depth import MAX_TYPE_DEPTH, Depths, TooDeep

from ..outside.test_deep_update import CLIENT, chain_level, map_chain
from .helpers import VENUE
from .test_sync_synchronizer import LEDGER, flush, node, raw_peer, write


def _take(depths: Depths, update: bytes) -> None:
    depths.commit(depths.check(update, "sync update"))


def _chain(depth: int, authors: int, seed: int, again: bool = False) -> list[bytes]:
    """The updates (one per level, in the order written) of maps nested ``depth`` deep under
    ``items``, each level written by one of ``authors`` documents (synced as it goes); ``again``:
    each level's key is set twice (the second map's parent found through its origin, the first)."""
    rng = random.Random(seed)
    docs: list[Doc[Any]] = [Doc(client_id=1000 + a) for a in range(authors)]
    updates: list[bytes] = []
    for doc in docs:
        doc.observe(lambda event: updates.append(bytes(event.update)))
    path: list[str] = []
    for level in range(depth):
        writer = docs[rng.randrange(authors)]
        before = len(updates)
        parent: Any = writer.get("items", type=Map)
        for key in path:
            parent = parent[key]
        key = f"k{level}"
        parent[key] = Map()
        if again:
            parent[key] = Map()
        path.append(key)
        for doc in docs:  # the others take what it wrote (their own observers add nothing new)
            if doc is not writer:
                for update in updates[before:]:
                    doc.apply_update(update)
        del updates[before + (2 if again else 1) :]
    return updates


@pytest.mark.parametrize("again", [False, True])
@pytest.mark.parametrize("authors", [1, 3])
def test_a_chain_is_taken_to_64_in_any_order_and_refused_at_65(authors: int, again: bool) -> None:
    for seed in range(4):
        taken = _chain(MAX_TYPE_DEPTH, authors, seed, again)
        deeper = _chain(MAX_TYPE_DEPTH + 1, authors, seed, again)
        order = list(range(len(taken)))
        random.Random(seed).shuffle(order)
        depths = Depths()
        for index in order:  # (out of order: names of items not held yet wait)
            _take(depths, taken[index])
        whole: Doc[Any] = Doc()
        for update in taken:
            whole.apply_update(update)
        Depths().check(whole.get_update(), "sync step 2 update")
        # the level past 64, alone (its chain held), or with all of it in one update
        with pytest.raises(TooDeep, match="a shared type nested deeper than 64"):
            depths.check(deeper[-1] if not again else deeper[-2], "sync update")
        for update in deeper:
            whole.apply_update(update)
        with pytest.raises(TooDeep):
            Depths().check(whole.get_update(), "sync step 2 update")


def _hanging(level: int, client: int, on: tuple[int, int]) -> bytes:
    """A map at ``client``'s clock ``level`` under the map ``on`` (level 0) or its own previous one."""
    parent = on if level == 0 else (client, level - 1)
    return b"".join(
        [
            *map(write_var_uint, (1, 1, client, level)),
            bytes([0x20 | 7]),
            *map(write_var_uint, (0, *parent)),
            write_var_string("k"),
            bytes([1]),
            write_var_uint(0),
        ]
    )


@pytest.mark.parametrize("length", [MAX_TYPE_DEPTH - 2, MAX_TYPE_DEPTH - 1])
def test_a_chain_planted_ahead_of_the_item_it_hangs_on_is_refused_when_that_item_comes(
    length: int,
) -> None:
    """Client 5's chain of ``length`` maps hangs on client 4242's second map, not held yet (yrs
    would keep it pending): taken, nothing is known to lie past 64 yet. 4242's first map comes
    (depth 1), then its second (depth 2), which puts the chain's last at ``length`` + 2: refused
    past 64, and the index is as it was."""
    depths = Depths()
    for level in range(length):
        _take(depths, _hanging(level, 5, (CLIENT, 1)))
    _take(depths, chain_level(0))
    kept = depths.ranges
    if length + 2 <= MAX_TYPE_DEPTH:
        _take(depths, chain_level(1))
        return
    with pytest.raises(TooDeep, match=r"deeper than 64 \(at 65\)"):
        depths.check(chain_level(1), "sync update")
    assert depths.ranges == kept
    planted = Depths()  # one level more: past 64 whatever it hangs on, refused at once
    for level in range(MAX_TYPE_DEPTH - 1):
        _take(planted, _hanging(level, 5, (CLIENT, 1)))
    with pytest.raises(TooDeep, match="at 65"):
        planted.check(_hanging(MAX_TYPE_DEPTH - 1, 5, (CLIENT, 1)), "sync update")


def test_one_level_per_update_and_one_update_of_100000() -> None:
    depths = Depths()
    for level in range(MAX_TYPE_DEPTH):
        _take(depths, chain_level(level))
    assert depths.ranges == MAX_TYPE_DEPTH - 1  # (a range a level; 0 and 1 kept as one, at 1)
    with pytest.raises(TooDeep, match="at 65"):
        depths.check(chain_level(MAX_TYPE_DEPTH), "sync update")
    with pytest.raises(TooDeep):
        Depths().check(map_chain(100_000), "sync update")


def test_every_update_the_model_writes_passes_live_and_whole() -> None:
    venue = _register(7, "R1")
    for k in range(200):
        _sell(venue, k)
    depths: dict[str, Depths] = {}
    captured_all = venue.replica.take_updates()
    for captured in captured_all:
        _take(depths.setdefault(captured.document, Depths()), captured.update)
    for name in venue.replica.names():
        Depths().check(venue.replica.doc(name).get_update(), "sync step 2 update")
    assert [d.ranges for d in depths.values()] == [1] * len(depths)  # (one author: one range)
    updates = [(c.document, c.update) for c in captured_all]
    random.Random(7).shuffle(updates)  # out of order (yrs keeps what names a missing item pending)
    shuffled: dict[str, Depths] = {}
    for name, update in updates:
        _take(shuffled.setdefault(name, Depths()), update)


def test_a_peer_growing_a_chain_is_closed_at_65_and_nothing_is_applied() -> None:
    """The synchronizer refuses the 65th level (what every session, relay and stock client goes
    through): the session closes naming it, the document is as it was."""
    reg = node("r1")
    write(reg, LEDGER, "p1")
    peer, key = raw_peer(reg, Hello(VENUE, "r2", "register", "x", 888))
    for level in range(MAX_TYPE_DEPTH):
        peer.send(SyncUpdate(LEDGER, chain_level(level, client=888)))
    flush(reg, key, peer)
    before = reg.docs[LEDGER].get_update()
    reg.events_received()
    peer.send(SyncUpdate(LEDGER, chain_level(MAX_TYPE_DEPTH, client=888)))
    flush(reg, key, peer)
    [closed] = [e for e in reg.events_received() if isinstance(e, PeerClosed)]
    assert "sync update: a shared type nested deeper than 64" in closed.reason
    assert key not in reg.sessions
    assert reg.docs[LEDGER].get_update() == before
