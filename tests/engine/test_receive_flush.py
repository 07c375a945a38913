"""What a received update costs a node's engine besides its apply (issue 18, receive).

A received batch is flushed after it is handled (the forward), after its commit round and, before,
once more by the pump that ran that round; each flush asked every session for its messages, most of
them with nothing to send (a 6-device mesh: 5 sessions, ~15 calls a batch, most empty). Counted
deterministically: the calls that find nothing, and the flushes and publishes of a received commit.
"""

from __future__ import annotations

import asyncio

from pycrdt import Map

from meshpos.engine import Committed, Engine
from meshpos.sync import Synchronizer
from meshpos.sync._session import Session

from .test_engine import Recording, engine, linked, settle, stop_here

TURNS = 20


async def _turns() -> None:
    for _ in range(TURNS):
        await asyncio.sleep(0)


class _Counted:
    """Wraps ``engine.sync.data_to_send``, ``engine._flush`` and ``engine._publish`` to count them."""

    def __init__(self, e: Engine) -> None:
        self.empty = self.found = self.flushes = self.publishes = 0
        to_send, flush, publish = e.sync.data_to_send, e._flush, e._publish

        def data_to_send(peer: str) -> list[bytes]:
            out = to_send(peer)
            if out:
                self.found += 1
            else:
                self.empty += 1
            return out

        def counted_flush() -> None:
            self.flushes += 1
            flush()

        def counted_publish() -> None:
            self.publishes += 1
            publish()

        e.sync.data_to_send = data_to_send  # type: ignore[method-assign]
        e._flush = counted_flush  # type: ignore[method-assign]
        e._publish = counted_publish  # type: ignore[method-assign]


async def _received(*, peers: int) -> tuple[Engine, _Counted, Recording]:
    """B (a node: commits after an interval of 0) linked with A and ``peers`` more engines, after A
    wrote once; returns B with its counters, once A's update is handled and committed."""
    store_b = Recording()
    a, b = await engine("A", Recording()), await engine("B", store_b, interval=0.0)
    wire = linked(a, b, [])
    await settle(a, b, wire)
    for n in range(peers):
        other = await engine(f"C{n}", Recording())
        await settle(b, other, linked(b, other, []))
    await _turns()
    committed = asyncio.Event()
    b.subscribe(lambda event: committed.set(), Committed)
    await a.write(lambda: stop_here(a).__setitem__("k", "v"))
    counted = _Counted(b)
    await b.link_messages("A", list(wire[0]))
    wire[0].clear()
    await asyncio.wait_for(committed.wait(), 5.0)
    await _turns()
    return b, counted, store_b


async def test_a_received_update_asks_no_session_that_has_nothing_to_send() -> None:
    b, counted, store_b = await _received(peers=3)
    assert stop_here(b).get("k") == "v"
    assert any(doc == "stoplist" for updates, _ in store_b.commits for doc, _ in updates)
    assert counted.found >= 1  # forwarded on (the peers' sessions had it)
    assert counted.empty == 0  # before: every flush asked all four sessions


async def test_a_received_commit_round_flushes_and_publishes_once() -> None:
    _, counted, _ = await _received(peers=0)
    # the handling's flush (the forward), then one commit round: flushed and published once (before:
    # the pump flushed and published again after the round that had just done both)
    assert counted.flushes == 2
    assert counted.publishes == 1


def test_a_session_has_output_when_a_held_message_may_leave() -> None:
    """``has_output`` (what a flush asks) follows what ``data_to_send`` would return: a message that
    waits for a commit counts once that commit is marked, not before."""
    a = Synchronizer(venue="v", node_id="A", role="register", client_id=11)
    b = Synchronizer(
        venue="v", node_id="B", role="register", client_id=22, forward_before_commit=True
    )
    a.tick(0.0)
    b.tick(0.0)
    a.connect("B")
    b.connect("A")
    for _ in range(5):
        for data in a.data_to_send("B"):
            b.receive_data("A", data)
        for data in b.data_to_send("A"):
            a.receive_data("B", data)
    stops = b.open_doc("stoplist").get("x", type=Map)
    b.data_to_send("A")  # (its step 1)
    b.events_received()
    b.mark_committed(b.drained)
    session: Session = b.sessions["A"]
    assert not session.has_output
    assert b.outgoing() == []
    stops["k"] = "v"  # a local write
    b.events_received()  # drained, not committed: its update waits
    assert not session.has_output
    assert b.data_to_send("A") == []
    b.mark_committed(b.drained)
    assert session.has_output
    assert b.outgoing() == ["A"]
    assert b.data_to_send("A")
    assert not session.has_output
    b.close("A")
    assert b.outgoing() == ["A"]  # its goodbye, and then it is let go of
    while b.outgoing():
        b.data_to_send("A")
    assert "A" not in b.sessions
