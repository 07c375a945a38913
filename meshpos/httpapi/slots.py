"""How many connections an :class:`~meshpos.httpapi.server.HttpServer` holds at once, and which go first.

Why: every connection holds a file descriptor and a task until it is answered, and a client that opens
connections and sends a byte now and then (slowloris) held one for the whole 10 s request deadline, any
number at once: thousands of them ran the node out of file descriptors (``socket.accept() out of system
resource`` with a traceback in the log, and the node's own files and sync links could not open). Each open
event stream also costs work on every change: a thousand of them cost ~0.4 s of CPU per sale.

The rule: at most ``max_clients`` connections; at the limit a new one takes the place of the oldest that
has still not sent its whole request after ``grace`` seconds (an honest client sends it at once: the oldest
such is the slowest; the grace keeps an honest burst of connections, each not read yet, from pushing out
its own first ones), else of the oldest event stream (a page reconnects by itself a second later). A
request being handled is never cut short (its answer may be a sale); when nothing may go, the newcomer
gets 503 ``busy`` at once.
At most ``max_streams`` event streams: a new one closes the oldest. What was closed or refused is logged
at most once a minute, as counts: the attacker sets the volume, not the log.
"""

from __future__ import annotations

import asyncio
import logging
import time

from meshpos.ops.limits import EveryMinute, descriptor_bound

log = logging.getLogger("meshpos.web")

MAX_CLIENTS = 512
MAX_STREAMS = 64
GRACE = 1.0  # seconds a connection may take to send its request before a newcomer may push it out


def default_max_clients() -> int:
    """:data:`MAX_CLIENTS`, or fewer where the process has few file descriptors (``ops.limits``)."""
    return descriptor_bound(MAX_CLIENTS, 8)


class Slots:
    def __init__(self, what: str, max_clients: int, max_streams: int, grace: float = GRACE) -> None:
        self.what = what
        self.max_clients = max_clients
        self.max_streams = max(1, min(max_streams, max_clients))
        self.grace = grace
        # insertion-ordered: the first is the oldest; reading: when it came
        self._reading: dict[asyncio.Task[None], float] = {}
        self._handling: set[asyncio.Task[None]] = set()
        self._streams: dict[asyncio.Task[None], None] = {}
        self._slow = self._streams_closed = self._refused = 0
        self._every_minute = EveryMinute()

    def __len__(self) -> int:
        return len(self._reading) + len(self._handling) + len(self._streams)

    def admit(self, task: asyncio.Task[None]) -> bool:
        """A new connection: True to serve it, False to refuse it (every slot is handling a request)."""
        now = time.monotonic()
        if len(self) >= self.max_clients:
            oldest = next(iter(self._reading), None)
            if oldest is not None and now - self._reading[oldest] >= self.grace:
                self._close(oldest)
                self._slow += 1
            elif self._streams:
                self._close(next(iter(self._streams)))
                self._streams_closed += 1
            else:
                self._refused += 1
                self._note()
                return False
            self._note()
        self._reading[task] = now
        return True

    def handling(self, task: asyncio.Task[None]) -> None:
        """The connection's request is read whole: from here it is never closed to make room."""
        self._reading.pop(task, None)
        self._handling.add(task)

    def streaming(self, task: asyncio.Task[None]) -> None:
        """The connection's answer is an event stream: the oldest goes when there are too many."""
        self._handling.discard(task)
        if len(self._streams) >= self.max_streams:
            self._close(next(iter(self._streams)))
            self._streams_closed += 1
            self._note()
        self._streams[task] = None

    def done(self, task: asyncio.Task[None]) -> None:
        self._reading.pop(task, None)
        self._handling.discard(task)
        self._streams.pop(task, None)

    def _close(self, task: asyncio.Task[None]) -> None:
        self.done(task)
        task.cancel()  # the connection's own task closes it

    def _note(self) -> None:
        if not self._every_minute.due():
            return
        log.warning(
            "%s at its limit (%d connections, %d event streams): closed %d that had not sent a request "
            "and %d event streams, refused %d while none could go (a client opening connections it "
            "does not use?); counts since the last such line, at most one a minute",
            self.what,
            self.max_clients,
            self.max_streams,
            self._slow,
            self._streams_closed,
            self._refused,
        )
        self._slow = self._streams_closed = self._refused = 0
