"""What a heartbeat costs in attestations and the console's state passed on (issue 18, held): no work
when nothing moved, each client's next hop looked up once a beat, and the durability count and the
console's state as true as before (tests/sync/test_sync_held.py, test_sync_console_passing.py).
Counted calls, not time: the work done is the behaviour."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from meshpos.sync._held import HeldTable
from meshpos.sync._passing import ConsoleSent, PassingOn

from .test_sync_held import counted
from .test_sync_topology import DOC, Venue, names


def _counting(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    calls = [0]
    real: Callable[..., Any] = getattr(owner, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapped)
    return calls


def test_an_idle_venue_reads_no_state_and_compares_no_console_state_for_its_beats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    venue = Venue(12)
    venue.settle(15.0)
    relay = venue.agreed_relay()
    assert relay is not None
    sold = {name: venue.write(name, f"sale-{name}") for name in names(12)}
    venue.net.nodes[relay].set_console_state(DOC, dict(sold.values()))
    venue.net.nodes[relay].set_console_reports(DOC, {n: {"receipts": 1} for n in sold})
    venue.until(
        lambda: all(counted(venue, n, *sale) == set(venue.net.nodes) for n, sale in sold.items()),
        10.0,
    )
    venue.until(lambda: all(s.pending(DOC) == 0 for s in venue.net.nodes.values()), 10.0)
    venue.net.advance(6.0, step=0.05)  # every rise passed on; an anti-entropy period went by

    reads = _counting(monkeypatch, PassingOn, "_attest")
    compares = _counting(monkeypatch, ConsoleSent, "rose_console")
    beats = len(venue.heartbeats)
    venue.net.advance(10.0, step=0.05)  # two anti-entropy periods: own attestations go on again
    assert len(venue.heartbeats) - beats > 12 * 2 * 9  # (it beat: ~1 a second and link)
    assert reads[0] == 0  # the states attested did not move: nothing attested again
    assert compares[0] == 0  # nor did the console's state: not compared again
    said = [s.status_version for s in venue.net.nodes.values()]
    venue.net.nodes["R005"].set_problem("the console refused R005: wrong venue token")
    venue.net.advance(3.0, step=0.05)
    assert said != [s.status_version for s in venue.net.nodes.values()]  # a status moved...
    assert compares[0] == 0  # ...not the console's state: still nothing compared

    # a sale moves both again, and only what it moved goes on (the counts stay true)
    client, clock = venue.write("R004", "one-more")
    venue.until(lambda: counted(venue, "R004", client, clock) == set(venue.net.nodes), 10.0)
    assert reads[0] > 0
    venue.net.nodes[relay].set_console_state(DOC, {client: clock})
    venue.until(
        lambda: all(s.console_state(DOC).get(client) == clock for s in venue.net.nodes.values()),
        10.0,
    )
    assert compares[0] > 0
    for name, sync in venue.net.nodes.items():  # attested: the others' writes, not its own
        assert all(client != sync.client_id for _, _, client in sync._attested.kept(name))


def test_a_beat_looks_each_client_s_next_hop_up_once_whatever_its_links() -> None:
    table = HeldTable()
    for node in ("R1", "R2", "R3"):
        for client in (1, 2, 3, 4):
            table.learn(node, DOC, client, 5)
            table.queue((node, DOC, client))
    looked: list[int] = []

    def hops() -> Callable[[int], str | None]:
        def hop(client: int) -> str | None:
            looked.append(client)
            return {1: "A", 2: "B", 3: "A"}.get(client)  # 4: no hop now

        return hop

    first = {peer: table.take(7, hops, peer, 2) for peer in ("A", "B", "C")}
    assert sorted(looked) == [1, 2, 3, 4]  # once each, for the three links together
    assert first == {
        "A": [("R3", DOC, 3), ("R3", DOC, 1)],  # newest first, at most the limit
        "B": [("R3", DOC, 2), ("R2", DOC, 2)],
        "C": [],
    }
    assert table.queued == 12 - 4
    assert table.take(7, hops, "A", 2) == []  # the beat's share was taken
    assert table.take(8, hops, "A", 9) == [
        ("R2", DOC, 3),
        ("R2", DOC, 1),
        *[(n, DOC, c) for n in ("R1",) for c in (3, 1)],
    ]
    assert len(looked) == 8  # looked up again for the next beat (the links may have moved)
