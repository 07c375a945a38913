"""The websocket handshake's refusals and helpers (``wsconn``'s ``accept`` and ``dial``): kept apart
so that ``wsconn`` reads in one sitting (and stays under the module size limit)."""

from __future__ import annotations

import asyncio
import ssl

from websockets.client import ClientProtocol
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from meshpos.errors import MeshposError

#: what one read of a connection takes at most (``net/buffered.py``: its buffer is as large)
READ_SIZE = 65536


class LinkRefused(MeshposError):
    """A connection was refused before the sync protocol started (TLS, certificate, handshake).

    ``status`` and ``body``: the HTTP answer a server gave instead of the upgrade (0 and b"" otherwise),
    which carries its reason (the console's "wrong venue token")."""

    code = "link_refused"

    def __init__(self, kind: str, reason: str, *, status: int = 0, body: bytes = b"") -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason
        self.status = status
        self.body = body


async def read_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    protocol: ServerProtocol | ClientProtocol,
    kind: type[Request] | type[Response],
) -> tuple[Request | Response, list[object]]:
    """The handshake event, and whatever frames arrived in the same read."""
    while True:
        data = await reader.read(READ_SIZE)
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        events: list[object] = list(protocol.events_received())
        for i, event in enumerate(events):
            if isinstance(event, kind):
                return event, events[i + 1 :]
        problem = protocol.handshake_exc or protocol.parser_exc
        if problem is not None:
            for chunk in protocol.data_to_send():  # e.g. websockets' own 400 reply
                if chunk:
                    writer.write(chunk)
            what = "response" if kind is Response else "request"
            raise LinkRefused("websocket", f"bad upgrade {what} ({problem})")
        if not data:
            raise LinkRefused("websocket", "connection closed during the websocket handshake")


def tls_reason(exc: ssl.SSLError) -> str:
    """OpenSSL's reason, and for a certificate refused its verifier's why: CERTIFICATE_VERIFY_FAILED
    alone does not tell an expired device from one of another CA."""
    reason = exc.reason or str(exc)
    why = getattr(exc, "verify_message", None)
    return f"{reason} ({why})" if isinstance(why, str) and why else reason


def peer_cert(writer: asyncio.StreamWriter, *, required: bool) -> bytes:
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der and required:
        raise LinkRefused("tls", "the peer presented no certificate")
    return bytes(der or b"")
