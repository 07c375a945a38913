"""The relay's websocket to the console, and the probe that tells a register whether it has internet.

The link runs only while this node is the elected relay and its probe succeeds; the sync protocol on it is
the same as on the LAN (the console is one more peer). It redials with jittered backoff and hands every
message to the node, which commits before it forwards, exactly as for a LAN peer.

A ``wss://`` console is checked against the system's trusted CAs, or against ``console_ca_file`` (PEM) when
the node's config names one (a console with a certificate of the venue's own, e.g. on the LAN).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from meshpos.errors import ConfigError
from meshpos.model.limits import text_problem
from meshpos.sync._codec import HEARTBEAT

log = logging.getLogger("meshpos.relay")
CLOSE_POLICY = 1008  # a websocket closed for a policy reason: the console no longer takes it
# What was handed to the socket may still sit in the operating system's buffers on a slow line: it is
# taken to be on its way for as long as this rate needs for it (128 kbit/s, the slowest uplink the chaos
# runs impose; a sale is a few kB, so a stall is still seen in seconds). The price: a console that takes
# none of a backlog it is re-sent in every anti-entropy round (16 kB/s x that interval) goes unnoticed.
SLOWEST_UPLINK_BPS = 16_000  # bytes per second
_probe_failures: dict[str, str] = {}  # console URL -> the last reason logged (log each reason once)


def console_ssl_context(url: str, ca_file: Path | None = None) -> ssl.SSLContext | None:
    """The TLS context for the console at ``url``: None for ``ws://``; for ``wss://`` one that checks the
    console's certificate and host name against ``ca_file`` (PEM), or the system's trusted CAs.

    Raises ConfigError naming the file when it cannot be read or holds no certificate."""
    if urlsplit(url).scheme != "wss":
        return None
    if ca_file is None:
        return _context(None, 0)
    try:
        stamp = Path(ca_file).stat().st_mtime_ns  # a replaced file is read again
    except OSError as exc:
        raise ConfigError(f"console_ca_file {str(ca_file)!r}: {exc.strerror or exc}") from None
    return _context(str(ca_file), stamp)


@functools.lru_cache(maxsize=8)
def _context(ca_file: str | None, stamp: int) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigError(
            f"console_ca_file {ca_file!r}: not a PEM file of CA certificates ({exc})"
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _probe_failed(url: str, reason: str) -> bool:
    if _probe_failures.get(url) != reason:
        _probe_failures[url] = reason
        log.warning("console %s: %s", url, reason)
    return False


class ConsoleHandler(Protocol):
    def console_opened(self, key: str) -> None: ...

    async def link_data(self, key: str, data: bytes) -> None: ...

    async def link_closed(self, key: str, reason: str) -> None: ...

    def console_refused(self, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Probe:
    """What one probe learnt: ``ok`` (the console answers and accepts this venue's token), or
    ``refused`` (the console answers and refuses the token: its reason, e.g. "wrong venue token"),
    or neither (no answer: a cable, a DNS failure, a console that is down)."""

    ok: bool
    refused: str = ""


REFUSED_STATUSES = (401, 403)  # what the console answers a wrong token, or a token of another venue


def refusal_reason(status: int, body: bytes | bytearray) -> str:
    """The console's reason for refusing the relay, from its answer (first line of the body)."""
    line = bytes(body).decode("utf-8", "replace").strip().split("\n", 1)[0][:200]
    if line and text_problem(line, 200) is None:
        return line
    return f"HTTP {status}"


async def probe_console(
    url: str,
    timeout: float = 2.0,
    ca_file: Path | None = None,
    *,
    venue_id: str = "",
    token: str = "",
) -> Probe:
    """Can this node reach the console right now, and does it take this venue's token?

    With ``venue_id``: one ``GET`` of the venue's sync path without the websocket upgrade,
    with the token, as the link will present it; the console answers 200 (or, before it knew such
    probes, 426) for a good token and 401/403 with its reason for a bad one. Without: ``GET /health``.
    A TLS failure (an untrusted certificate, a wrong host name), an unusable ``ca_file`` and a refusal
    are logged once per reason: they need the operator, unlike a cable."""
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    path, auth = "/health", ""
    if venue_id:  # an empty token is asked about too: the console says "missing venue token"
        path = f"{parts.path.rstrip('/')}/v1/venues/{venue_id}/sync"
        auth = f"Authorization: Bearer {token}\r\n"
    try:
        context = console_ssl_context(url, ca_file)
    except ConfigError as exc:
        return Probe(_probe_failed(url, exc.message))
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
            try:
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n".encode()
                )
                await writer.drain()
                answer = b""  # the whole answer (the console closes it), at most 4 kB
                while len(answer) < 4096 and (part := await reader.read(4096 - len(answer))):
                    answer += part
            finally:
                writer.close()
    except ssl.SSLCertVerificationError as exc:
        return Probe(
            _probe_failed(url, f"TLS: the console's certificate is refused: {exc.verify_message}")
        )
    except ssl.SSLError as exc:
        return Probe(_probe_failed(url, f"TLS: {exc.reason or exc}"))
    except (OSError, TimeoutError):
        return Probe(False)
    head, _, body = answer.partition(b"\r\n\r\n")
    code = head.split(b"\r\n", 1)[0].split(b" ")[1:2]
    status = int(code[0]) if code and code[0].isdigit() else 0
    if status in REFUSED_STATUSES:
        reason = refusal_reason(status, body)
        _probe_failed(url, f"the console refused this venue's token: {reason}")
        return Probe(False, reason)
    _probe_failures.pop(url, None)
    return Probe(status == 200 or (bool(auth) and status == 426))


class ConsoleLink:
    def __init__(
        self,
        *,
        url: str,
        token: str,
        venue_id: str,
        handler: ConsoleHandler,
        max_size: int,
        rng: random.Random,
        backoff_min: float = 0.2,
        backoff_max: float = 5.0,
        ca_file: Path | None = None,
    ) -> None:
        self.url = f"{url.rstrip('/')}/v1/venues/{venue_id}/sync"
        self.ca_file = ca_file
        self.token = token
        self.handler = handler
        self.max_size = max_size
        self.rng = rng
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.failures = 0
        self.last_error = ""
        self._ws: ClientConnection | None = None
        self._key = ""
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._writing = False
        self._seq = 0
        self.drained_at = 0.0  # loop time by which what was sent reaches the console on a slow line

    @property
    def sending(self) -> bool:
        """Whether changes may still be on their way: queued, being written, or in the operating
        system's buffers of a slow line (as long as the slowest uplink we allow for needs for them).
        The console cannot have acknowledged what it has not received yet."""
        now = asyncio.get_running_loop().time()
        return self._writing or not self._outbox.empty() or now < self.drained_at

    @property
    def key(self) -> str:
        return self._key

    def send(self, messages: list[bytes]) -> None:
        for message in messages:
            self._outbox.put_nowait(message)

    async def run(self) -> None:
        """Connect, sync, and redial until cancelled (when this node stops being the relay)."""
        backoff = self.backoff_min
        while True:
            try:
                await self._session()
                backoff = self.backoff_min
            except (OSError, TimeoutError, WebSocketException, ConfigError) as exc:
                self.failures += 1
                if isinstance(exc, ConfigError):
                    self.last_error = exc.message
                    log.error("cannot dial the console: %s", exc.message)
                elif isinstance(exc, InvalidStatus):
                    status = exc.response.status_code
                    self.last_error = f"console refused: HTTP {status}"
                    log.error("console refused the relay: HTTP %d", status)
                    if status in REFUSED_STATUSES:
                        self.handler.console_refused(refusal_reason(status, exc.response.body))
                else:
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("cannot reach the console at %s: %s", self.url, self.last_error)
            await asyncio.sleep(backoff * (0.5 + self.rng.random()))
            backoff = min(backoff * 2, self.backoff_max)

    async def _session(self) -> None:
        context = console_ssl_context(self.url, self.ca_file)
        tls: dict[str, Any] = {"ssl": context} if context is not None else {}
        async with connect(
            self.url,
            additional_headers={"Authorization": f"Bearer {self.token}"},
            proxy=None,
            max_size=self.max_size,
            open_timeout=5,
            ping_interval=None,  # the sync heartbeats carry liveness
            **tls,
        ) as ws:
            self._seq += 1
            self._key = f"console#{self._seq}"
            self._outbox = asyncio.Queue()
            self.handler.console_opened(self._key)
            writer = asyncio.create_task(self._write(ws))
            reason = "console closed the connection"
            try:
                async for message in ws:
                    if isinstance(message, str):
                        reason = "console sent a text message"
                        break
                    await self.handler.link_data(self._key, message)
            except ConnectionClosed as exc:
                reason = f"connection to the console lost ({exc})"
                if exc.rcvd is not None and exc.rcvd.code == CLOSE_POLICY:
                    self.handler.console_refused(exc.rcvd.reason or "closed by the console")
            finally:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
                key, self._key = self._key, ""
                await self.handler.link_closed(key, reason)

    async def _write(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                data = await self._outbox.get()
                if not data:
                    await ws.close(1000, "bye")
                    return
                self._writing = True
                try:
                    await ws.send(data)
                finally:
                    self._writing = False
                if data[0] != HEARTBEAT:  # the changes, not the chatter about them
                    now = asyncio.get_running_loop().time()
                    self.drained_at = max(self.drained_at, now) + len(data) / SLOWEST_UPLINK_BPS
