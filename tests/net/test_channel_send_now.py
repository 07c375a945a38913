"""A message handed to an idle link is written at once, not a loop round later (issue 18, tail).

Each hop of a sale's propagation (the seller's commit round, then each forward) handed its messages
to the channel's writer task, which took them one loop round later: on a register busy with its
peers' batches a round is milliseconds. Now ``Channel.send`` writes them itself when nothing is
queued or being written and the transport is below its high-water mark; past it they queue behind
what waits, in order. Real mTLS websockets on loopback between a :class:`Links` and a dialled peer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from meshpos.harness.venue import make_venue
from meshpos.net.channel import Channel
from meshpos.net.links import Links
from meshpos.net.wsconn import WsConnection, dial
from meshpos.trust import client_ssl_context, device_hostname

from ..trust.helpers import issue_identity
from .test_links_backlog import HOST, LIMIT, MESSAGE, Recorder, mesh_links

MOST = 64 * 2**20  # the test's own bound on what it offers a peer that does not read yet


async def _linked(tmp_path: Path) -> tuple[Channel, WsConnection, Links]:
    authority = make_venue(tmp_path)
    node, peer = issue_identity(authority, "R1"), issue_identity(authority, "R9")
    handler = Recorder()
    links = mesh_links(authority, node, handler)
    port = await links.start()
    far = await dial(
        HOST,
        port,
        client_ssl_context(peer),
        server_hostname=device_hostname("R1", authority.venue_id),
        max_size=LIMIT,
    )
    _key, send = await asyncio.wait_for(handler.opened.get(), 10)
    channel = getattr(send, "__self__", None)
    assert isinstance(channel, Channel)
    return channel, far, links


async def test_a_message_to_an_idle_link_is_written_before_the_loop_runs_again(
    tmp_path: Path,
) -> None:
    channel, far, links = await _linked(tmp_path)
    try:
        sent: list[list[bytes]] = []
        channel._on_sent = sent.append  # (what the relay's uplink hooks: told as it is written)
        channel.send([b"\x02one", b"\x02two"])
        # no await since: already handed to TLS (before, the writer task had it queued)
        assert not channel.sending
        assert sent == [[b"\x02one", b"\x02two"]]
        assert await asyncio.wait_for(far.recv_batch(), 10) == [b"\x02one", b"\x02two"]
    finally:
        far.abort()
        await links.stop()


async def test_past_the_high_water_mark_messages_queue_and_leave_in_order(
    tmp_path: Path,
) -> None:
    channel, far, links = await _linked(tmp_path)
    try:
        offered = 0
        while not channel.sending and offered < MOST:  # the peer reads nothing yet
            channel.send([MESSAGE])
            offered += len(MESSAGE)
        assert channel.sending, f"{offered:,} bytes written and nothing queued"
        numbered = [b"\x02%d" % i for i in range(10)]
        last_written = asyncio.Event()  # the writer task has written the last of them

        def written(batch: list[bytes]) -> None:
            if numbered[-1] in batch:
                last_written.set()

        channel._on_sent = written
        for message in numbered:
            channel.send([message])
        assert channel.sending
        got: list[bytes] = []
        while len(got) < offered // len(MESSAGE) + len(numbered):
            got += await asyncio.wait_for(far.recv_batch(), 10)
        assert got[: offered // len(MESSAGE)] == [MESSAGE] * (offered // len(MESSAGE))
        assert got[offered // len(MESSAGE) :] == numbered
        await asyncio.wait_for(last_written.wait(), 10)
        channel.send([b"\x02after"])  # the queue is empty again: written at once
        assert not channel.sending
        assert await asyncio.wait_for(far.recv_batch(), 10) == [b"\x02after"]
    finally:
        far.abort()
        await links.stop()
