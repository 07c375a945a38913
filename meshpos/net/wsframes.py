"""Whole binary frames read off an open websocket without the ``websockets`` parser.

docs/architecture.md (Links).

**Changed** (issue 18, cpu; the twenty-third session): a received sale is one websocket frame in one
read, and the ``websockets`` library's sans-I/O parser spent ~30 Python calls on it (a generator per
``read_exact``, the ``Frame`` dataclass and its check, the ``Opcode`` enum, the events list, and
:class:`~meshpos.net.wsconn.WsConnection` reading the event's attributes back): about a quarter of the
calls taking a message off a TLS socket cost a receiving register (``python -m
meshpos.bench.receive_parts --wire``). Here the
common frame is read directly: at a frame boundary of an open connection with no extension and no
fragmented message under way, each whole frame that is final, binary, without reserved bits, masked as
this side requires (a server's frames from its client masked, a client's from its server not) and
within the size limit the library would apply. The first byte that is anything else (a partial frame,
a ping, a close, text, a fragment, a wrong mask, a frame over the limit) ends the fast read, and it
and everything after it go to the library's parser, which then meets the same bytes at the same frame
boundary it would have met them: it answers, fails the connection or waits exactly as before. So the
fast read accepts a subset of what the library accepts and yields the same payloads
(``tests/net/test_wsframes.py`` compares the two on random streams), and every refusal stays the
library's.
"""

from __future__ import annotations

from typing import Any

from websockets.protocol import SERVER, Protocol, State
from websockets.streams import StreamReader

try:  # the library's C masking, as its own parser uses (its pure-Python one otherwise)
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - a build without the C extension
    from websockets.utils import apply_mask

_FINAL_BINARY = 0x82  # FIN, no reserved bit, opcode 2
_MASKED = 0x80
_AT_EOF = StreamReader.at_eof.__code__
_PARSE = Protocol.parse.__code__


def at_frame_boundary(protocol: Protocol) -> bool:
    """Whether ``protocol``'s parser waits for the first byte of a frame of an unfragmented message on
    an open connection without extensions, with nothing buffered: then the next bytes are read the same
    by :func:`whole_binary_frames` or by the library (else only the library reads them)."""
    if (
        protocol.state is not State.OPEN
        or protocol.debug  # (the library logs each frame it reads then)
        or protocol.extensions
        or protocol.current_size is not None
        or protocol.parser_exc is not None
        or protocol.reader.buffer
        or protocol.reader.eof
    ):
        return False
    # the parser waits inside ``Protocol.parse``'s ``at_eof`` (not mid-frame, e.g. after a header)
    # (generators: typeshed's ``Generator`` has no ``gi_yieldfrom``; a ``cast`` would cost a call)
    outer: Any = None
    inner: Any = protocol.parser
    while inner.gi_yieldfrom is not None:
        outer, inner = inner, inner.gi_yieldfrom
    return outer is not None and outer.gi_code is _PARSE and inner.gi_code is _AT_EOF


def whole_binary_frames(protocol: Protocol, data: bytes) -> tuple[list[bytes], int]:
    """The payloads of the whole final binary frames at the start of ``data`` that the library would
    accept, and how many bytes they took; the caller hands ``data`` from there on to the library
    (``protocol.receive_data``). Nothing (``[], 0``) unless :func:`at_frame_boundary`."""
    if not at_frame_boundary(protocol):
        return [], 0
    masked = protocol.side is SERVER
    limit = protocol.max_message_size  # (no fragmented message: the whole limit is left)
    if protocol.max_fragment_size is not None:
        limit = (
            protocol.max_fragment_size if limit is None else min(limit, protocol.max_fragment_size)
        )
    payloads: list[bytes] = []
    taken, end = 0, len(data)
    while end - taken >= 2:
        second = data[taken + 1]
        if data[taken] != _FINAL_BINARY or bool(second & _MASKED) != masked:
            break
        length = second & 0x7F
        at = taken + 2
        if length >= 126:
            width = 2 if length == 126 else 8
            if end - at < width:
                break
            length = int.from_bytes(data[at : at + width], "big")
            at += width
        if limit is not None and length > limit:
            break
        key = b""
        if masked:
            if end - at < 4:
                break
            key = data[at : at + 4]
            at += 4
        if end - at < length:
            break
        payload = data[at : at + length]
        payloads.append(apply_mask(payload, key) if masked else payload)
        taken = at + length
    return payloads, taken
