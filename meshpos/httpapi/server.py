"""A small HTTP/1.1 server on asyncio streams for a node's local pages and JSON API, and the console's.

Why not a framework: the API listens on 127.0.0.1 for one register app and one browser, needs JSON in and out,
server-sent events for live pages, and no dependency beyond the standard library. One request per
connection keeps it simple; request line, headers and body are size-limited and every malformed request
gets a JSON error, never a traceback. Connections and event streams are bounded in count
(:mod:`meshpos.httpapi.slots`) and a request in time; HTTPS is :mod:`meshpos.httpapi.https`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from meshpos.digits import ascii_digits
from meshpos.errors import MeshposError
from meshpos.httpapi import https
from meshpos.httpapi.slots import GRACE, MAX_STREAMS, Slots, default_max_clients

log = logging.getLogger("meshpos.web")

MAX_HEADER = 16 * 1024
MAX_BODY = 256 * 1024
REQUEST_TIMEOUT = 10.0  # seconds for a request's line, headers and body to arrive
MAX_REFUSING = 16  # refused connections lingering at once so that their 503 is read
REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


class HttpError(MeshposError):
    """An error answered as JSON ``{"error": {"code", "message"}}`` with an HTTP status."""

    code = "http"

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers or {}


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    peer: str = ""  # the client's IP address: pages embed the API token for loopback clients only

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            value = json.loads(self.body, parse_constant=_not_json, object_pairs_hook=_once_each)
        except _Repeated as exc:
            raise HttpError(400, "bad_json", str(exc)) from None
        except (ValueError, UnicodeDecodeError) as exc:  # UTF-8 errors, digits past int's limit too
            raise HttpError(400, "bad_json", f"the request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise HttpError(
                400, "bad_json", "the request body is nested too deeply to be a request"
            ) from None
        if not isinstance(value, dict):
            raise HttpError(400, "bad_json", "the request body must be a JSON object")
        return value


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterator[bytes] | None = None  # server-sent events

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(value, separators=(",", ":")).encode())

    @classmethod
    def text(cls, text: str, content_type: str, status: int = 200) -> Response:
        return cls(status, text.encode(), content_type)


# the headers of every page (the node's register and kitchen pages, the console's): only the page's own
# scripts and styles run, it cannot be framed, and it posts no form anywhere; a token a page holds stays
# out of reach of other sites' scripts
PAGE_SECURITY = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class _Repeated(ValueError):
    pass


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object, refused when it names a field twice: JSON leaves which one counts to the parser, so a
    proxy or a log reading the first would see another request than the one acted on (the last)."""
    value: dict[str, Any] = {}
    for key, item in pairs:
        if key in value:
            raise _Repeated(
                f"the request body names the field {shown_name(key)} twice in one object; send "
                "each field once"
            )
        value[key] = item
    return value


def shown_name(name: str) -> str:
    """A client's field or parameter name as an error shows it: escaped, at most ~64 characters."""
    return ascii(name) if len(name) <= 64 else ascii(name[:61]) + "..."


def _not_json(word: str) -> Any:
    """Python's json reads NaN and Infinity, which JSON does not have (and no amount can be)."""
    raise ValueError(f"{word} is not a JSON value")


Handler = Callable[[Request], Awaitable[Response]]


def error_response(exc: HttpError) -> Response:
    response = Response.json({"error": {"code": exc.code, "message": exc.message}}, exc.status)
    response.headers.update(exc.headers)
    return response


def _busy_answer() -> bytes:
    body = json.dumps(
        {
            "error": {
                "code": "busy",
                "message": "this server is at its limit of open connections; try again",
            }
        },
        separators=(",", ":"),
    ).encode()
    return (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        b"Cache-Control: no-store\r\nConnection: close\r\nRetry-After: 1\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


_BUSY = _busy_answer()


class HttpServer:
    def __init__(
        self,
        handler: Handler,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        what: str = "the local API",
        max_clients: int | None = None,
        max_streams: int = MAX_STREAMS,
        grace: float = GRACE,
    ) -> None:
        """``ssl_context`` serves HTTPS (the console's pages and API on a certificate). At most
        ``max_clients`` connections and ``max_streams`` event streams at once, a request unsent after
        ``grace`` seconds pushed out first (see :mod:`meshpos.httpapi.slots`); ``what`` names the
        server in the log."""
        self.handler = handler
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        limit = default_max_clients() if max_clients is None else max_clients
        self._slots = Slots(what, limit, max_streams, grace)
        self._refusing = 0

    async def start(self) -> int:
        if self.ssl_context is None:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        else:  # TLS from the connection's own task: counted, timed, and a plain request answered
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(
                lambda: https.HoldUntilTls(asyncio.StreamReader(), self._serve),
                self.host,
                self.port,
            )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            if not self._slots.admit(task):
                if self.ssl_context is None:  # (a TLS client could not read a plain answer)
                    await self._refuse(reader, writer)
                return
            if self.ssl_context is not None and not await https.start_tls(
                reader, writer, self.ssl_context, self.port, REQUEST_TIMEOUT
            ):
                return
            response = await self._respond(reader, writer)
            if response is not None:
                if response.stream is not None:
                    self._slots.streaming(task)
                await _write_response(writer, response)
                if response.stream is not None:
                    await _pump_stream(reader, writer, response.stream)
                elif response.status in (411, 413):
                    await _linger(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            # stop() ends open event streams by cancelling; Python 3.11's stream callback would log
            # a cancelled handler task as an error, so this task ends normally instead.
            pass
        finally:
            self._slots.done(task)
            self._clients.discard(task)
            writer.close()

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """503 busy. Its request is unread: closed at once, the client would see a reset rather than
        the answer, so a few refused ones at a time linger a second (more are just closed)."""
        writer.write(_BUSY)
        if self._refusing >= MAX_REFUSING:
            return
        self._refusing += 1
        try:
            await _linger(reader, writer, 1.0)
        finally:
            self._refusing -= 1

    async def _respond(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Response | None:
        """The response to one request, or None when the client left before sending one."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                request = await _read_request(reader)
            task = asyncio.current_task()
            assert task is not None
            self._slots.handling(task)  # read whole: never closed to make room from here
            request.peer = _peer_host(writer)
            return await self.handler(request)
        except (ConnectionError, asyncio.IncompleteReadError):
            return None  # e.g. a browser's speculative pre-connection, closed unused
        except HttpError as exc:
            return error_response(exc)
        except MeshposError as exc:
            return error_response(HttpError(422, exc.code, exc.message))
        except TimeoutError:
            return error_response(HttpError(400, "timeout", "request not received in time"))
        except Exception:
            log.exception("internal error in the local API")
            return error_response(HttpError(500, "internal", "internal error; see the node's log"))


SINGLE_HEADERS = frozenset({"authorization", "idempotency-key", "content-type", "host"})
"""Headers that hold one value, beside the API's own (``x-meshpos-*``): sent twice with two values, the
last one counted silently (a kitchen write with ``X-Meshpos-Session: junk`` then a cook's session went
in the cook's name; the other way round, a 401 naming no fault): which value counts must not depend on
the order of the lines, so it is a 400 naming the header (outside, second round)."""


def _single(name: str) -> bool:
    return name in SINGLE_HEADERS or name.startswith("x-meshpos-")


async def _read_request(reader: asyncio.StreamReader) -> Request:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpError(413, "too_large", "request headers too large") from None
    except asyncio.IncompleteReadError:
        raise ConnectionError("client went away") from None
    if len(head) > MAX_HEADER:
        raise HttpError(413, "too_large", "request headers too large")
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
    except ValueError:
        raise HttpError(400, "bad_request", "malformed request line") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise HttpError(400, "bad_request", f"malformed header line {line[:40]!r}")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length" and headers.get(name, value) != value:
                raise HttpError(400, "bad_request", "two different Content-Length headers")
            if _single(name) and headers.get(name, value) != value:
                raise HttpError(
                    400,
                    "bad_request",
                    f"header {name} sent twice, with two values: send it once",
                )
            headers[name] = value
    if "transfer-encoding" in headers:
        # read as no body, a chunked request ran with its fields left out (its defaults)
        raise HttpError(
            411,
            "length_required",
            f"Transfer-Encoding {headers['transfer-encoding'][:40]!r} is not taken: "
            "send the body whole, with a Content-Length",
        )
    length = _content_length(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    parts = urlsplit(target)
    # blank values are kept: `?status=` is a value (refused if the parameter takes none), not an absence
    query = parse_qs(parts.query, keep_blank_values=True)
    return Request(method.upper(), unquote(parts.path), query, headers, body)


def _content_length(text: str) -> int:
    # digits only: int() also reads "+5", " 5" and "1_0", which no other HTTP reader takes alike
    if not ascii_digits(text):
        raise HttpError(400, "bad_request", f"Content-Length {text[:40]!r} is not a number")
    if len(text) > 12 or int(text) > MAX_BODY:
        raise HttpError(413, "too_large", f"request body over {MAX_BODY} bytes")
    return int(text)


async def _write_response(writer: asyncio.StreamWriter, response: Response) -> None:
    reason = REASONS.get(response.status, "Status")
    headers = {
        "Content-Type": response.content_type,
        "Cache-Control": "no-store",
        "Connection": "close",
        **response.headers,
    }
    if response.stream is None:
        headers["Content-Length"] = str(len(response.body))
    head = f"HTTP/1.1 {response.status} {reason}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    writer.write(head.encode("latin-1") + b"\r\n")
    if response.stream is None:
        writer.write(response.body)
    await writer.drain()


async def _pump_stream(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stream: AsyncIterator[bytes]
) -> None:
    """Send a stream until it ends or the client hangs up: a closed tab must not keep a poller alive."""

    async def pump() -> None:
        async for chunk in stream:
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.ensure_future(pump())
    hangup = asyncio.ensure_future(reader.read(1))  # a client sends nothing more until it closes
    try:
        await asyncio.wait((sender, hangup), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, hangup):
            task.cancel()
        await asyncio.gather(sender, hangup, return_exceptions=True)
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
    if sender.done() and not sender.cancelled():
        error = sender.exception()
        if error is not None and not isinstance(error, ConnectionError):
            log.error("an event stream failed", exc_info=error)


async def _linger(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seconds: float = 2.0
) -> None:
    """After refusing an unread body: closing with input pending resets the connection, and the client
    would see a reset instead of our answer. Half-close, then read and drop what is still coming."""
    if writer.can_write_eof():  # not over TLS: the close_notify then comes with the close
        writer.write_eof()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while await reader.read(64 * 1024):
                pass


def _peer_host(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""
