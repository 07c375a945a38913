"""A peer's messages are handled in the loop round that read them, not a round later (issue 18,
latency; the twenty-third session).

A mesh link's task waited in ``StreamReader.read``: the TLS read callback fed the bytes to the reader
and the task took them in the next loop round, behind whatever else that round ran (the register's
own sale, its other links' batches, the ticker: ``tail_probe``'s ``receive_take_gap_by_callback_ms``).
Now a handler that takes messages without waiting (``messages_at_once``: a node's engine) is handed
them by the read callback itself while the task waits on nothing; bytes that come while the task
holds earlier ones still go to it, in order. Real mTLS websockets on loopback between :class:`Links`
and a dialled peer; the handler records the loop round it ran in.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from meshpos.harness.venue import make_venue
from meshpos.harness.wait import until
from meshpos.net.buffered import BufferedStreamProtocol
from meshpos.net.channel import Channel
from meshpos.net.port import LinkPeer
from meshpos.net.wsconn import dial
from meshpos.trust import client_ssl_context, device_hostname

from ..trust.helpers import issue_identity
from .test_link_contract import HOST, LIMIT, WAIT, Recorder
from .test_links_backlog import mesh_links


class AtOnce(Recorder):
    """A recorder that takes messages without waiting, as a node's engine does."""

    def __init__(self) -> None:
        super().__init__()
        self.rounds: list[int] = []  # the loop round of each batch handled
        self.round: Callable[[], int] = lambda: -1
        self.fail = False  # (a handler's bug: it raises)

    def messages_at_once(self, key: str) -> Callable[[list[bytes]], None]:
        def take(messages: list[bytes]) -> None:
            if self.fail:
                raise RuntimeError("the handler's bug")
            self.calls.append(("messages", key))
            self.received[key].extend(messages)
            self.rounds.append(self.round())
            self.feed.publish(presence=True)

        return take

    async def link_messages(self, key: str, messages: list[bytes]) -> None:
        if self.fail:  # (the read task's way)
            raise RuntimeError("the handler's bug")
        self.rounds.append(self.round())
        await super().link_messages(key, messages)


@contextlib.asynccontextmanager
async def linked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AtOnce, Recorder, list[int]]]:
    """R1's links with an :class:`AtOnce` handler, a peer dialled to it; the loop round of each
    read of R1's links' bytes."""
    rounds = [0]
    reads: list[int] = []
    run_once = asyncio.BaseEventLoop._run_once  # type: ignore[attr-defined]
    updated = BufferedStreamProtocol.buffer_updated

    def counted(loop: asyncio.BaseEventLoop) -> None:
        rounds[0] += 1
        run_once(loop)

    def read(protocol: BufferedStreamProtocol, nbytes: int) -> None:
        if protocol in near_protocols:
            reads.append(rounds[0])
        updated(protocol, nbytes)

    near_protocols: list[object] = []
    monkeypatch.setattr(asyncio.BaseEventLoop, "_run_once", counted)
    monkeypatch.setattr(BufferedStreamProtocol, "buffer_updated", read)
    authority = make_venue(tmp_path)
    node, peer = issue_identity(authority, "R1"), issue_identity(authority, "R9")
    near, far = AtOnce(), Recorder()
    near.round = lambda: rounds[0]
    links = mesh_links(authority, node, near)
    port = await links.start()
    conn = await dial(
        HOST,
        port,
        client_ssl_context(peer),
        server_hostname=device_hostname("R1", authority.venue_id),
        max_size=LIMIT,
    )
    channel = Channel("far", LinkPeer("far", "far", "far"), conn, far)
    channel.start()
    try:
        await until(lambda: bool(near.peers and far.peers), WAIT, "both ends open", on=[near, far])
        for link in links._links.values():  # (R1's side of the one link)
            near_protocols.append(link.conn._writer.transport.get_protocol())
        yield near, far, reads
    finally:
        await channel.finish("test over")
        await links.stop()


async def test_a_peers_messages_are_handled_in_the_round_that_read_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with linked(tmp_path, monkeypatch) as (near, far, reads):
        key = near.key
        for k in range(5):
            reads.clear()
            near.rounds.clear()
            far.sends[far.key]([b"\x02sale %d" % k])
            await until(
                lambda k=k: near.received[key][-1:] == [b"\x02sale %d" % k],  # type: ignore[misc]
                WAIT,
                "R1 has it",
                on=[near],
            )
            # handled in the round whose read callback read its last bytes (main: the next one)
            assert near.rounds == [reads[-1]], (near.rounds, reads)


async def test_messages_split_over_reads_and_bursts_arrive_whole_and_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message larger than a TLS record is read in parts (the first parts complete nothing), and
    bursts of many messages come while earlier ones are handled: each arrives once, whole, in order."""
    async with linked(tmp_path, monkeypatch) as (near, far, reads):
        key = near.key
        rng = random.Random(5)
        sent: list[bytes] = []
        for burst in range(20):
            batch = [rng.randbytes(rng.choice((10, 300, 70_000))) for _ in range(burst % 7 + 1)]
            sent += batch
            far.sends[far.key](batch)
            if burst % 3 == 0:
                await asyncio.sleep(0)
        await until(lambda: len(near.received[key]) >= len(sent), WAIT, "all of it", on=[near])
        assert near.received[key] == sent
        assert len(reads) > len(near.rounds)  # (some reads completed no message)
        assert key not in near.closed


async def test_a_handler_that_raises_ends_the_link_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the handler raises ends the link as it did from the read task: closed once, nothing
    handled after it."""
    async with linked(tmp_path, monkeypatch) as (near, far, _reads):
        key = near.key
        near.fail = True
        far.sends[far.key]([b"\x02boom"])
        await until(lambda: key in near.closed, WAIT, "R1 ends the link", on=[near])
        near.check_contract(key)
        assert b"\x02boom" not in near.received[key]
