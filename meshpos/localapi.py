"""One client for a node's (or the console's) local JSON API and its event stream, for the CLI
(``meshpos status``, ``clear-cache``, the revoke push), the demo, the chaos run, the benchmarks and the
tests (docs/architecture.md (Layers)). It sits below the tools and the CLI because both use it; the
examples in ``examples/`` keep their own urllib calls on purpose, to show an app with no meshpos import.

The API is plain HTTP/1.1 with a bearer token (``api.token`` in the node's data directory); urllib with
proxies disabled is all it takes (a node is on loopback or the LAN, never behind a proxy), so the calls
are blocking and async callers run them on a thread (:meth:`LocalApi.acall`). Two ways to use an answer:
:meth:`LocalApi.request` never raises for an HTTP status and gives an :class:`Answer` (status 0: nothing
answered, the body says why), which suits callers that count refusals (the chaos cashiers) or word each
refusal themselves (the CLI); :meth:`LocalApi.call` returns the decoded JSON or raises :class:`ApiError`
naming the call, which suits set-up steps and tests.

:class:`EventStream` reads ``GET /api/events`` (server-sent events) on a thread of its own, so a caller can
wait for "something changed" instead of asking again and again. It counts every ``data:`` line as one
change and ignores the payload, so a new event format (the pages' stream may carry different fields)
does not break it; a stream that ends (the node restarted) is opened again. Each opening counts as a
change too: what happened before it (or while the node was down) is unknown, so a waiter checks again,
and a change between a waiter's first check and the stream's opening is never missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from meshpos.errors import MeshposError

_RECONNECT_S = 0.2  # between attempts to reopen an event stream whose node is (re)starting


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer; ``status`` 0 means no answer at all (refused, reset, timed out)."""

    status: int
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def error(self) -> tuple[str, str]:
        """The ``error`` ``code`` and ``message`` of a JSON error body; "" for what it does not have."""
        try:
            error = json.loads(self.body)["error"]
            return str(error["code"]), str(error.get("message", ""))
        except (ValueError, KeyError, TypeError, AttributeError):
            return "", ""


class ApiError(MeshposError):
    """A call that did not succeed: the status (0: no answer), what was called, and what came back."""

    code = "api_error"

    def __init__(self, status: int, method: str, url: str, body: str) -> None:
        super().__init__(f"{method} {url} -> {status or 'no answer'}: {body[:500]}")
        self.status = status
        self.body = body

    @property
    def error_code(self) -> str:
        """The ``error.code`` of the JSON error body ("" if the body is not one)."""
        return Answer(self.status, self.body).error[0]


def read_token(path: Path) -> str:
    return path.read_text().strip()


class LocalApi:
    """The JSON API at ``base`` (``http://host:port``) with ``token``; ``cafile`` for an https console."""

    def __init__(self, base: str, token: str = "", *, cafile: Path | None = None) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.cafile = cafile
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if cafile is not None:
            context = ssl.create_default_context(cafile=str(cafile))
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    def headers(self) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**auth, "Content-Type": "application/json"}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout: float = 10.0,
        raw: bytes | None = None,
    ) -> Answer:
        """One call; never raises for an HTTP status or a node that is down (status 0)."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers=self.headers()
        )
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return Answer(int(response.status), response.read().decode())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read().decode(errors="replace"))
        except (
            OSError,
            urllib.error.URLError,
        ) as exc:  # the reason, e.g. "[Errno 111] Connection refused"
            return Answer(0, str(getattr(exc, "reason", exc)))

    def call(self, method: str, path: str, body: Any = None, *, timeout: float = 10.0) -> Any:
        """One call; the decoded JSON, or :class:`ApiError` unless the status is 2xx."""
        answer = self.request(method, path, body, timeout=timeout)
        if not answer.ok:
            raise ApiError(answer.status, method, self.base + path, answer.body)
        return answer.json()

    async def acall(
        self, method: str, path: str, body: Any = None, *, timeout: float = 10.0
    ) -> Any:
        """:meth:`call` from an event loop (on a thread: the loop keeps running meanwhile)."""
        return await asyncio.to_thread(self.call, method, path, body, timeout=timeout)

    async def arequest(
        self, method: str, path: str, body: Any = None, *, timeout: float = 10.0
    ) -> Answer:
        """:meth:`request` from an event loop."""
        return await asyncio.to_thread(self.request, method, path, body, timeout=timeout)

    def status(self, timeout: float = 3.0) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "/status", timeout=timeout)
        return result

    def events(self) -> EventStream:
        """The node's change stream, open (close it, or use it as a context manager)."""
        return EventStream(self).open()


class EventStream:
    """``GET /api/events`` read on a daemon thread; :meth:`wait` returns once a change arrived.

    ``seen`` counts changes; a waiter remembers the count it saw and waits for a larger one, so a change
    that came between its check and its wait is never missed. :meth:`take_topics` says what changed
    since it was last called, as the node named it (every topic when the stream (re)opened: what
    happened while it was down is unknown), so a client fetches only that, as the register page does.
    """

    def __init__(self, api: LocalApi) -> None:
        self.api = api
        self.seen = 0
        self._changed = threading.Condition()
        self._closed = False
        self._sock: socket.socket | None = None
        self._listeners: list[Callable[[], None]] = []
        self._topics: set[str] = set()
        self._everything = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="meshpos-events")

    def open(self) -> EventStream:
        self._thread.start()
        return self

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # unblocks the reader thread
        self._thread.join(5)

    def wait(self, seen: int, timeout: float) -> int:
        """Block until more than ``seen`` changes arrived or ``timeout`` passed; the count now."""
        with self._changed:
            self._changed.wait_for(lambda: self.seen > seen or self._closed, timeout)
            return self.seen

    def listen(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (on the reader thread: it must only signal) after each change."""
        with self._changed:
            self._listeners.append(listener)

    def unlisten(self, listener: Callable[[], None]) -> None:
        with self._changed, contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def take_topics(self) -> set[str] | None:
        """The topics named since the last call; None for "everything" (the stream (re)opened or an
        event named none)."""
        with self._changed:
            topics, everything = self._topics, self._everything
            self._topics, self._everything = set(), False
        return None if everything else topics

    def _bump(self, data: bytes | None = None) -> None:
        named = _named_topics(data) if data is not None else None
        with self._changed:
            if named is None:
                self._everything = True
            else:
                self._topics |= named
            self.seen += 1
            self._changed.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(OSError):
                self._read_stream()
            self._sock = None
            if not self._closed:
                time.sleep(_RECONNECT_S)  # the node is restarting: try again shortly

    def _read_stream(self) -> None:
        url = urlsplit(self.api.base)
        host, port = url.hostname or "127.0.0.1", url.port or 80
        sock = socket.create_connection((host, port), timeout=5)
        if url.scheme == "https":
            context = ssl.create_default_context(
                cafile=str(self.api.cafile) if self.api.cafile else None
            )
            sock = context.wrap_socket(sock, server_hostname=host)
        with sock:
            head = (
                f"GET /api/events HTTP/1.1\r\nHost: {url.netloc}\r\nAccept: text/event-stream\r\n"
            )
            if self.api.token:
                head += f"Authorization: Bearer {self.api.token}\r\n"
            sock.sendall((head + "\r\n").encode("latin-1"))
            with sock.makefile("rb") as stream:
                status = stream.readline().split()
                if len(status) < 2 or status[1] != b"200":
                    raise OSError(f"event stream refused: {b' '.join(status)!r}")
                while stream.readline().strip():  # the headers
                    pass
                self._sock = sock
                sock.settimeout(None)  # events may be minutes apart; close() shuts the socket
                self._bump()  # (re)opened: what happened before, or while it was down, is unknown
                while not self._closed and (line := stream.readline()):
                    if line.startswith(b"data:"):
                        self._bump(line[5:])


def _named_topics(data: bytes) -> set[str] | None:
    """The ``changed`` topics of one event's data, or None when it names none it can be trusted on."""
    try:
        changed = json.loads(data).get("changed")
    except (ValueError, AttributeError):
        return None
    if not isinstance(changed, list) or not all(isinstance(t, str) for t in changed):
        return None
    return set(changed)
