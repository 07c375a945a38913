"""Wire codec: one websocket binary message <-> one message object.

Every message starts with an envelope type byte:

=====  ==========  ====================================================================================
byte   message     body
=====  ==========  ====================================================================================
0x01   Hello       compact UTF-8 JSON object (see :class:`Hello`)
0x02   doc         var-string document name, then the **unchanged y-protocols message**: var-uint 0 (sync)
                   + var-uint sub-type 0/1/2 + var-uint8array, or var-uint 1 (awareness) + var-uint8array
0x03   Chunk       var-string document name, var-uint index, var-uint total, then a slice of a y-protocols
                   message too large for one websocket message; the slices concatenated are that message
0x04   Heartbeat   compact UTF-8 JSON object (see :class:`Heartbeat`)
0x05   Bye         UTF-8 reason
0x06   Batch       one or more whole messages of the kinds 0x02-0x04 and 0x07, each a var-uint8array, in
                   the order they were queued (feature ``batch1``: sent only to a peer that announced it)
0x07   Digest      var-uint count, then per document a var-string name and an 8-byte hash of its state
                   (feature ``digest1``, ``_digest``: anti-entropy by digest instead of a step 1 per document)
=====  ==========  ====================================================================================

A batch is what one flush has for one link: one websocket message instead of one per update, heartbeat
and step (issue 18: a websocket frame, a read and a decode each, on both ends). The receiver charges the
peer's budget per message inside, as if they had come one by one.

The message types are in ``_messages``; the two JSON bodies (hello, heartbeat) in ``_bodies``.

:func:`decode` validates everything strictly and raises :class:`~meshpos.errors.RemoteProtocolError` naming
what was wrong; it never raises anything else and never touches a document. The one thing it leaves whole is
the Yjs update inside a sync step 2 or update: decoding 10 MB is as dear as applying it, so the Synchronizer
decodes it once, checking validity and authorship in the same pass, before anything is applied.
"""

from __future__ import annotations

import functools
import json

from meshpos.errors import LocalProtocolError, RemoteProtocolError
from meshpos.lib0 import Reader, write_var_bytes, write_var_string, write_var_uint
from meshpos.model.documents import MAX_DOC_NAME, valid_document_name
from meshpos.model.replica import decode_state_vector
from meshpos.sync._bodies import (
    decode_heartbeat,
    decode_hello,
    heartbeat_body,
    hello_body,
)
from meshpos.sync._digest import decode_digest, digest_body
from meshpos.sync._features import FEATURES
from meshpos.sync._fields import reject_constant
from meshpos.sync._messages import (
    AwarenessUpdate,
    Bye,
    Chunk,
    Digest,
    DocMessage,
    Heartbeat,
    Hello,
    Message,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
)

DEFAULT_MAX_MESSAGE_SIZE = 2**20  # websockets' default max_size: stay under it
MIN_MAX_MESSAGE_SIZE = 256

HELLO, DOC, CHUNK, HEARTBEAT, BYE, BATCH, DIGEST = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
_BATCHABLE = frozenset({DOC, CHUNK, HEARTBEAT, DIGEST})
Y_SYNC, Y_AWARENESS = 0, 1
STEP1, STEP2, UPDATE = 0, 1, 2

_MAX_BYE = 512


# --- encoding -------------------------------------------------------------------------------------


def encode_y_payload(msg: DocMessage) -> bytes:
    """The y-protocols message for ``msg``, byte for byte what y-protocols would send."""
    if isinstance(msg, SyncStep1):
        return bytes([Y_SYNC, STEP1]) + write_var_bytes(msg.state_vector)
    if isinstance(msg, SyncStep2):
        return bytes([Y_SYNC, STEP2]) + write_var_bytes(msg.update)
    if isinstance(msg, SyncUpdate):
        return bytes([Y_SYNC, UPDATE]) + write_var_bytes(msg.update)
    return bytes([Y_AWARENESS]) + write_var_bytes(msg.update)


def encode(msg: Message, features: frozenset[str] = FEATURES) -> bytes:
    """Encode one message (no size limit applied: see :func:`encode_doc_message` for chunking) for a
    peer that can take ``features``: a hello's or heartbeat's optional fields it did not announce are
    left out (``_bodies.HEARTBEAT_FIELD_FEATURES``). A session passes its ``peer_features``."""
    if isinstance(msg, Hello):
        return bytes([HELLO]) + hello_body(msg, features)
    if isinstance(msg, Heartbeat):
        return bytes([HEARTBEAT]) + heartbeat_body(msg, features)
    if isinstance(msg, Digest):
        return bytes([DIGEST]) + digest_body(msg)
    if isinstance(msg, Bye):
        return bytes([BYE]) + msg.reason.encode("utf-8")[:_MAX_BYE]
    if isinstance(msg, Chunk):
        return (
            bytes([CHUNK])
            + write_var_string(msg.doc)
            + write_var_uint(msg.index)
            + write_var_uint(msg.total)
            + msg.data
        )
    return bytes([DOC]) + write_var_string(msg.doc) + encode_y_payload(msg)


def encode_doc_message(
    msg: DocMessage, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
) -> list[bytes]:
    """Encode a document message, split into :class:`Chunk` messages if it exceeds ``max_message_size``.

    A change forwarded to several peers is encoded once, by the forwarding, which hands the same
    bytes to every session (``Session.send_encoded``)."""
    if isinstance(
        msg, SyncUpdate | SyncStep2
    ):  # a change's usual path, as :func:`encode` writes it
        body = msg.update
        head = _doc_head(msg.doc, UPDATE if type(msg) is SyncUpdate else STEP2)
        whole = b"".join((head, write_var_uint(len(body)), body))
    else:
        whole = encode(msg)
    if len(whole) <= max_message_size:
        return [whole]
    return _chunked(msg, max_message_size)


@functools.lru_cache(maxsize=64)
def _doc_head(doc: str, step: int) -> bytes:
    """What a document's update or step 2 message starts with, up to its update's length: the kind, the
    document's name and the y-protocols sync header (kept per name: a node writes a few documents)."""
    return bytes([DOC]) + write_var_string(doc) + bytes([Y_SYNC, step])


def _chunked(msg: DocMessage, max_message_size: int) -> list[bytes]:
    payload = encode_y_payload(msg)
    room = max_message_size - (1 + len(write_var_string(msg.doc)) + 2 * 8)
    if room < 64:
        raise LocalProtocolError(f"max_message_size {max_message_size} leaves no room for chunks")
    parts = [payload[i : i + room] for i in range(0, len(payload), room)]
    return [encode(Chunk(msg.doc, i, len(parts), part)) for i, part in enumerate(parts)]


def batch(messages: list[bytes], max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> list[bytes]:
    """``messages`` (what one flush has for one link) with each run of doc messages, chunks and
    heartbeats packed into :data:`BATCH` messages of at most ``max_message_size`` bytes, in order. A
    hello, a bye and ``b""`` (close the transport) stay as they are; so does a lone message."""
    out: list[bytes] = []
    run: list[bytes] = []
    size = 1
    for data in messages:
        if not data or data[0] not in _BATCHABLE:
            _close_run(out, run)
            run, size = [], 1
            out.append(data)
            continue
        framed = len(data) + len(write_var_uint(len(data)))
        if run and size + framed > max_message_size:
            _close_run(out, run)
            run, size = [], 1
        run.append(data)
        size += framed
    _close_run(out, run)
    return out


def _close_run(out: list[bytes], run: list[bytes]) -> None:
    if len(run) == 1:
        out.append(run[0])
    elif run:
        out.append(bytes([BATCH]) + b"".join(write_var_bytes(data) for data in run))


def unbatch(data: bytes) -> list[bytes]:
    """The messages inside a :data:`BATCH` message (``data`` is whole, its size already checked), each
    of a kind a batch may hold; raise RemoteProtocolError naming what is wrong."""
    reader = Reader(data)
    reader.read_byte("batch")
    messages: list[bytes] = []
    while reader.remaining:
        message = reader.read_var_bytes(f"batch message {len(messages)}")
        if not message or message[0] not in _BATCHABLE:
            what = f"type byte 0x{message[0]:02x}" if message else "empty"
            raise RemoteProtocolError(
                f"batch: message {len(messages)} is {what}; a batch holds doc messages, "
                "chunks, heartbeats and digests only"
            )
        messages.append(message)
    if len(messages) < 2:
        raise RemoteProtocolError(f"batch: {len(messages)} messages, at least 2")
    return messages


def messages_in(data: bytes) -> list[bytes]:
    """The messages one websocket message carries: those inside a batch, else ``data`` itself (for
    whoever watches the wire: the in-memory network's tap, the bench's meter)."""
    return unbatch(data) if data[:1] == bytes([BATCH]) else [data]


# --- decoding -------------------------------------------------------------------------------------


def decode(data: bytes, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> Message:
    """Decode and validate one whole message; raise RemoteProtocolError naming what is wrong."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise RemoteProtocolError(f"message: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_message_size:
        raise RemoteProtocolError(
            f"message: {len(data)} bytes exceeds the limit of {max_message_size} bytes"
        )
    if not data:
        raise RemoteProtocolError("message: empty")
    if data[0] == DOC:
        found = _doc_update(data)
        if found is not None:
            return found
    kind, body = data[0], data[1:]
    if kind == HELLO:
        return decode_hello(body)
    if kind == HEARTBEAT:
        return decode_heartbeat(body)
    if kind == BYE:
        if len(body) > _MAX_BYE:
            raise RemoteProtocolError(f"bye: reason of {len(body)} bytes is longer than {_MAX_BYE}")
        try:
            return Bye(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise RemoteProtocolError("bye: reason is not valid UTF-8") from None
    if kind == DIGEST:
        return decode_digest(body)
    reader = Reader(body)
    if kind == DOC:
        doc = _read_doc_name(reader)
        return decode_y_payload(doc, reader.read_rest())
    if kind == CHUNK:
        doc = _read_doc_name(reader)
        index = reader.read_var_uint("chunk index")
        total = reader.read_var_uint("chunk total")
        if total < 2 or index >= total:
            raise RemoteProtocolError(f"chunk: index {index} of total {total} is impossible")
        data = reader.read_rest()
        if not data:
            raise RemoteProtocolError("chunk: no data")
        return Chunk(doc, index, total, data)
    raise RemoteProtocolError(f"message type: unknown type byte 0x{kind:02x}")


def _read_doc_name(reader: Reader) -> str:
    name = reader.read_var_string("document name")
    if len(name) > MAX_DOC_NAME or not valid_document_name(name):
        raise RemoteProtocolError(f"document name {name[:MAX_DOC_NAME]!r}: not a known document")
    if len(_NAMES) < _MAX_NAMES:
        _NAMES[name.encode("utf-8")] = name
    return name


#: document names read and found valid before, by their bytes (:func:`_doc_update`)
_NAMES: dict[bytes, str] = {}
_MAX_NAMES = 1024  # a few open days' names; beyond, the general path reads them


def _doc_update(data: bytes) -> SyncUpdate | SyncStep2 | None:
    """A sync update or step 2 of a document whose name was read before, read without the general
    reader (nearly every message a node receives is one): the name's bytes looked up, a short
    length in canonical form that ends exactly at the message's end. None for anything else, which
    the general path reads (and refuses, naming what is wrong)."""
    end = 2 + data[1] if len(data) > 1 and data[1] < 0x80 else 0
    name = _NAMES.get(data[2:end]) if end else None
    if name is None or len(data) < end + 3 or data[end] != Y_SYNC:
        return None
    sub = data[end + 1]
    if sub != UPDATE and sub != STEP2:
        return None
    pos, length, shift = end + 2, 0, 0
    for _ in range(3):  # up to 2**21 bytes; a longer update takes the general path
        byte = data[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            if (shift and not byte) or pos + length != len(data):
                return None  # overlong, or not exactly the rest of the message
            update = data[pos:]
            return SyncUpdate(name, update) if sub == UPDATE else SyncStep2(name, update)
        shift += 7
        if pos >= len(data):
            return None
    return None


def decode_y_payload(doc: str, payload: bytes) -> DocMessage:
    """Decode the y-protocols part of a document message (also used for reassembled chunks)."""
    reader = Reader(payload)
    y_type = reader.read_var_uint("y-protocols message type")
    if y_type == Y_SYNC:
        sub = reader.read_var_uint("sync message type")
        if sub not in (STEP1, STEP2, UPDATE):
            raise RemoteProtocolError(f"sync message type: unknown sub-type {sub}")
        what = ("sync step 1 state vector", "sync step 2 update", "sync update")[sub]
        body = reader.read_var_bytes(what)
        reader.expect_end(what)
        if sub == STEP1:
            decode_state_vector(body)
            return SyncStep1(doc, body)
        # The update itself is decoded once, by the Synchronizer, which checks its authors in that pass.
        return SyncStep2(doc, body) if sub == STEP2 else SyncUpdate(doc, body)
    if y_type == Y_AWARENESS:
        body = reader.read_var_bytes("awareness update")
        reader.expect_end("awareness update")
        _validate_awareness(body)
        return AwarenessUpdate(doc, body)
    raise RemoteProtocolError(f"y-protocols message type: unknown type {y_type}")


def _validate_awareness(data: bytes) -> None:
    reader = Reader(data)
    count = reader.read_var_uint("awareness entry count")
    if count > reader.remaining // 3:
        raise RemoteProtocolError(f"awareness: {count} entries cannot fit in {len(data)} bytes")
    for _ in range(count):
        reader.read_var_uint("awareness client id")
        reader.read_var_uint("awareness clock")
        state = reader.read_var_string("awareness state")
        try:
            json.loads(state, parse_constant=reject_constant)
        except (ValueError, RecursionError):
            raise RemoteProtocolError("awareness state: not valid JSON") from None
    reader.expect_end("awareness update")
