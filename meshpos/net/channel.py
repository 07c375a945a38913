"""One open websocket between a :class:`~meshpos.net.port.LinkHandler` and the wire
(docs/architecture.md (Wire)), the same for a mesh link, the relay's link to the console and the console's
link from a relay.

A channel tells its handler ``link_opened(key, peer, send)``, reads whole messages in bursts into
``link_messages``, writes what ``send`` queued as one write per burst, and ends with ``link_closed``
exactly once, whichever side or failure ends it. ``send`` never blocks: what waits for a peer that does
not read is bounded (``max_backlog`` bytes), past which the channel drops the connection (``overflow``),
so no peer can make this process buffer without end. ``b""`` closes the connection after what was
queued before it, within a bounded wait (a dead peer never answers the close).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from meshpos.net.port import LinkHandler, LinkPeer
from meshpos.net.wsconn import WsConnection

#: bytes queued for one peer that is not reading them, before its connection is dropped
MAX_BACKLOG = 64 * 2**20
CLOSE_GRACE = 2.0  # seconds a closing connection waits for its last writes and the peer's close
_LINGERING: set[asyncio.Task[None]] = (
    set()
)  # sockets waiting for their peer to close (kept referenced)


class Channel:
    """An open connection's two loops (in: messages to the handler; out: the queue to the socket).

    Hooks, all optional and synchronous: ``on_overflow`` when the backlog passes ``max_backlog`` (the
    channel then ends, reason ``dropped: not reading what it is sent``), ``on_sent`` with each batch
    handed to the socket, ``on_finish`` once it ends, before the handler hears ``link_closed``."""

    def __init__(
        self,
        key: str,
        peer: LinkPeer,
        conn: WsConnection,
        handler: LinkHandler,
        *,
        max_backlog: int = MAX_BACKLOG,
        on_overflow: Callable[[Channel], None] | None = None,
        on_sent: Callable[[list[bytes]], None] | None = None,
        on_finish: Callable[[Channel, str], None] | None = None,
    ) -> None:
        self.key = key
        self.peer = peer
        self.conn = conn
        self.handler = handler
        self.max_backlog = max_backlog
        self.queued = 0  # bytes in the outbox
        self.writing = False  # a batch is being handed to the socket
        self.closed = asyncio.Event()
        self.goodbye = (1000, "bye")  # the close code and reason ``b""`` closes with
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._on_overflow = on_overflow
        self._on_sent = on_sent
        self._on_finish = on_finish

    def start(self) -> None:
        """Tell the handler the connection is open, then start reading and writing."""
        self.handler.link_opened(self.key, self.peer, self.send)
        take = self.take_at_once()
        if take is not None:
            self.conn.take_at_once(take)
        self._tasks += [
            asyncio.create_task(self._read()),
            asyncio.create_task(self._write()),
        ]

    def take_at_once(self) -> Callable[[list[bytes]], None] | None:
        """What takes this connection's messages in its transport's read callback (None: its read
        task hands every batch to ``link_messages``, as every channel but a mesh link's does)."""
        return None

    @property
    def sending(self) -> bool:
        """Whether something is queued or being written."""
        return self.writing or self.queued > 0 or not self._outbox.empty()

    def send(self, messages: list[bytes]) -> None:
        """Queue ``messages`` (the handler's :data:`~meshpos.net.port.Send`); ``b""`` closes after them.
        **Changed** (issue 18, tail): with nothing queued or being written, and the socket taking
        them without waiting, they are written now (``WsConnection.send_now``), not by the writer
        task a loop round later: a sale's update leaves as its commit's round ends, a forwarded
        update as it is applied. Otherwise they queue behind what waits, in order, as before."""
        if self.closed.is_set():
            return
        if messages and all(messages) and not self.sending and self.conn.send_now(messages):
            if self._on_sent is not None:
                self._on_sent(messages)
            return
        for message in messages:
            self.queued += len(message)
            if self.queued > self.max_backlog:
                self._overflow()
                return
            self._outbox.put_nowait(message)
            if not message:  # a dead peer never drains nor answers the close: bound the wait
                self._tasks.append(asyncio.create_task(self._close_within(CLOSE_GRACE)))

    def _overflow(self) -> None:
        """The peer does not read what it is sent: drop it now (queueing a goodbye behind the backlog
        would wait for ever)."""
        if self._on_overflow is not None:
            self._on_overflow(self)
        self.conn.close_reason = "dropped: not reading what it is sent"
        self._tasks.append(asyncio.create_task(self.finish(self.conn.close_reason)))

    async def close(self, code: int = 1000, reason: str = "bye") -> None:
        """Close the connection now (not after the queue), politely within ``CLOSE_GRACE``."""
        if self.closed.is_set():
            return
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_GRACE):
                await self.conn.close(code, reason)
        await self.finish(self.conn.close_reason or reason)

    async def finish(self, reason: str) -> None:
        """End the channel (once): stop both loops, drop the socket, tell the hooks and the handler."""
        if self.closed.is_set():
            return
        self.closed.set()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        lingering = asyncio.create_task(self.conn.linger(CLOSE_GRACE))
        _LINGERING.add(lingering)
        lingering.add_done_callback(_LINGERING.discard)
        if self._on_finish is not None:
            self._on_finish(self, reason)
        await self.handler.link_closed(self.key, reason)

    async def _read(self) -> None:
        try:
            while batch := await self.conn.recv_batch():
                await self.handler.link_messages(self.key, batch)
        finally:
            await self.finish(self.conn.close_reason or "connection ended")

    async def _write(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while batch[-1] and not self._outbox.empty():  # everything queued goes out as one write
                batch.append(self._outbox.get_nowait())
            self.queued -= sum(map(len, batch))
            if batch[-1]:
                await self._send(batch)
                continue
            await self._send(batch[:-1])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_GRACE):
                    await self.conn.close(*self.goodbye)
            await self.finish(self.conn.close_reason or "closed by this side")
            return

    async def _send(self, batch: list[bytes]) -> None:
        if not batch:
            return
        self.writing = True
        try:
            await self.conn.send_batch(batch)
        finally:
            self.writing = False
        if self._on_sent is not None:
            self._on_sent(batch)

    async def _close_within(self, grace: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.closed.wait()
        await self.finish(self.conn.close_reason or "closed by this side")
