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
=====  ==========  ====================================================================================

:func:`decode` validates everything strictly and raises :class:`~meshpos.errors.RemoteProtocolError` naming
what was wrong; it never raises anything else and never touches a document. The one thing it leaves whole is
the Yjs update inside a sync step 2 or update: decoding 10 MB is as dear as applying it, so the Synchronizer
decodes it once, checking validity and authorship in the same pass, before anything is applied.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from meshpos.errors import LocalProtocolError, RemoteProtocolError
from meshpos.lib0 import (
    MAX_VAR_UINT,
    Reader,
    write_var_bytes,
    write_var_string,
    write_var_uint,
)
from meshpos.model.documents import MAX_DOC_NAME, is_ledger, valid_document_name
from meshpos.model.limits import MAX_NOTE_CHARS, text_problem
from meshpos.model.replica import decode_state_vector
from meshpos.model.roles import NODE_ROLES, ROLES
from meshpos.model.tally import KINDS, UNKNOWN_REGISTER

PROTOCOL_VERSION = 1  # in the hello and the mDNS advert (net.discovery): the one place it is set
DEFAULT_MAX_MESSAGE_SIZE = 2**20  # websockets' default max_size: stay under it
MIN_MAX_MESSAGE_SIZE = 256
MAX_JSON_DOCS = 1024  # documents listed in one heartbeat

HELLO, DOC, CHUNK, HEARTBEAT, BYE = 0x01, 0x02, 0x03, 0x04, 0x05
Y_SYNC, Y_AWARENESS = 0, 1
STEP1, STEP2, UPDATE = 0, 1, 2

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SOFTWARE = re.compile(r"^[\x21-\x7e]{1,64}$")
_MAX_BYE = 512
_CLIENT = re.compile(r"^(0|[1-9][0-9]{0,15})$")


# --- messages -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """First message each side sends. ``client_id`` is the sender's CRDT client id for this process run."""

    venue: str
    node: str
    role: str
    software: str
    client_id: int
    protocol: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class SyncStep1:
    doc: str
    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncStep2:
    doc: str
    update: bytes


@dataclass(frozen=True, slots=True)
class SyncUpdate:
    doc: str
    update: bytes


@dataclass(frozen=True, slots=True)
class AwarenessUpdate:
    doc: str
    update: bytes  # the y-protocols awareness update (count, then client, clock, JSON state)


@dataclass(frozen=True, slots=True)
class Chunk:
    doc: str
    index: int
    total: int
    data: bytes


@dataclass(frozen=True, slots=True)
class PeerSummary:
    """What a relay tells the console about one node it is linked to (see :attr:`Heartbeat.mesh`)."""

    role: str
    pending: int  # the sum of that node's own heartbeat's ``pending``


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Presence: sent about every heartbeat period on every connection past the hello.

    ``console`` holds the console's state vector per document ({client id: clock}) as far as the sender knows
    (the relay learns it from the console); ``pending`` holds, per document, how many clock units of the
    sender's replica the console does not hold yet.
    """

    node: str
    role: str
    priority: int
    uplink: bool
    relay: bool
    seq: int
    console: dict[str, dict[int, int]] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    peers: tuple[
        str, ...
    ] = ()  # node ids the sender has live sessions with (to skip needless forwards)
    # optional, a relay to the console only: per linked node, its role and pending count. Left out of
    # the encoding when empty, so every other heartbeat is byte for byte what older nodes send.
    mesh: dict[str, PeerSummary] = field(default_factory=dict)
    # optional: why the sender has no working link to the console although it is configured for one, in
    # the venue's words ("the console refused R3: wrong venue token"); left out when there is none.
    problem: str = ""
    # optional, the console and the relay only: how many records the console holds but cannot put in
    # its reports, and why (the console tells the relay, the relay tells the mesh); left out when 0.
    unreported: int = 0
    unreported_reason: str = ""
    # optional: per ledger document, what the console's reports hold, per register and kind (the console
    # tells it, the relay passes it on); see meshpos.model.tally
    reports: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    # optional: the sender's own records the console's reports do not hold yet, per kind
    owed: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Bye:
    reason: str


DocMessage = SyncStep1 | SyncStep2 | SyncUpdate | AwarenessUpdate
Message = Hello | DocMessage | Chunk | Heartbeat | Bye


# --- encoding -------------------------------------------------------------------------------------


def _json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()


def encode_y_payload(msg: DocMessage) -> bytes:
    """The y-protocols message for ``msg``, byte for byte what y-protocols would send."""
    if isinstance(msg, SyncStep1):
        return bytes([Y_SYNC, STEP1]) + write_var_bytes(msg.state_vector)
    if isinstance(msg, SyncStep2):
        return bytes([Y_SYNC, STEP2]) + write_var_bytes(msg.update)
    if isinstance(msg, SyncUpdate):
        return bytes([Y_SYNC, UPDATE]) + write_var_bytes(msg.update)
    return bytes([Y_AWARENESS]) + write_var_bytes(msg.update)


def encode(msg: Message) -> bytes:
    """Encode one message (no size limit applied: see :func:`encode_doc_message` for chunking)."""
    if isinstance(msg, Hello):
        body = {
            "v": msg.protocol,
            "venue": msg.venue,
            "node": msg.node,
            "role": msg.role,
            "software": msg.software,
            "client": msg.client_id,
        }
        return bytes([HELLO]) + _json(body)
    if isinstance(msg, Heartbeat):
        body = {
            "node": msg.node,
            "role": msg.role,
            "priority": msg.priority,
            "uplink": msg.uplink,
            "relay": msg.relay,
            "seq": msg.seq,
            "console": {
                d: {str(c): k for c, k in sorted(sv.items())} for d, sv in msg.console.items()
            },
            "pending": dict(msg.pending),
            "peers": list(msg.peers),
        }
        if msg.mesh:
            body["mesh"] = {
                n: {"role": s.role, "pending": s.pending} for n, s in sorted(msg.mesh.items())
            }
        if msg.problem:
            body["problem"] = msg.problem
        if msg.unreported:
            body["unreported"] = {"count": msg.unreported, "reason": msg.unreported_reason}
        if msg.reports:
            body["reports"] = msg.reports
        if msg.owed:
            body["owed"] = msg.owed
        return bytes([HEARTBEAT]) + _json(body)
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
    """Encode a document message, split into :class:`Chunk` messages if it exceeds ``max_message_size``."""
    whole = encode(msg)
    if len(whole) <= max_message_size:
        return [whole]
    payload = encode_y_payload(msg)
    room = max_message_size - (1 + len(write_var_string(msg.doc)) + 2 * 8)
    if room < 64:
        raise LocalProtocolError(f"max_message_size {max_message_size} leaves no room for chunks")
    parts = [payload[i : i + room] for i in range(0, len(payload), room)]
    return [encode(Chunk(msg.doc, i, len(parts), part)) for i, part in enumerate(parts)]


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
    kind, body = data[0], data[1:]
    if kind == HELLO:
        return _decode_hello(body)
    if kind == HEARTBEAT:
        return _decode_heartbeat(body)
    if kind == BYE:
        if len(body) > _MAX_BYE:
            raise RemoteProtocolError(f"bye: reason of {len(body)} bytes is longer than {_MAX_BYE}")
        try:
            return Bye(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise RemoteProtocolError("bye: reason is not valid UTF-8") from None
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
    return name


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
            json.loads(state, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise RemoteProtocolError("awareness state: not valid JSON") from None
    reader.expect_end("awareness update")


# --- JSON bodies ----------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _load_object(
    body: bytes, what: str, fields: set[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    try:
        obj = json.loads(
            body.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
        )
    except UnicodeDecodeError:
        raise RemoteProtocolError(f"{what}: not valid UTF-8") from None
    except (ValueError, RecursionError) as exc:
        raise RemoteProtocolError(f"{what}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise RemoteProtocolError(f"{what}: expected a JSON object, got {type(obj).__name__}")
    missing = sorted(fields - obj.keys())
    if missing:
        raise RemoteProtocolError(f"{what}: missing field {missing[0]!r}")
    unknown = sorted(obj.keys() - fields - optional)
    if unknown:
        raise RemoteProtocolError(f"{what}: unknown field {unknown[0]!r}")
    return obj


def _int(obj: dict[str, Any], key: str, what: str, low: int = 0, high: int = MAX_VAR_UINT) -> int:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RemoteProtocolError(f"{what}: field {key!r} must be an integer in [{low}, {high}]")
    return value


def _bool(obj: dict[str, Any], key: str, what: str) -> bool:
    value = obj[key]
    if not isinstance(value, bool):
        raise RemoteProtocolError(f"{what}: field {key!r} must be true or false")
    return value


def _str(obj: dict[str, Any], key: str, what: str, pattern: re.Pattern[str]) -> str:
    value = obj[key]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise RemoteProtocolError(f"{what}: field {key!r} is not a valid value: {value!r:.80}")
    return value


def _role(obj: dict[str, Any], what: str) -> str:
    value = obj["role"]
    if value not in ROLES:
        raise RemoteProtocolError(f"{what}: field 'role' must be one of {', '.join(ROLES)}")
    assert isinstance(value, str)
    return value


def _decode_hello(body: bytes) -> Hello:
    what = "hello"
    # version first, so a newer peer gets "protocol version" rather than "unknown field"
    try:
        probe = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        probe = None
    if isinstance(probe, dict) and "v" in probe and probe["v"] != PROTOCOL_VERSION:
        raise RemoteProtocolError(
            f"hello: field 'v' (protocol version) is {probe['v']!r:.20}, we speak {PROTOCOL_VERSION}"
        )
    obj = _load_object(body, what, {"v", "venue", "node", "role", "software", "client"})
    return Hello(
        venue=_str(obj, "venue", what, _ID),
        node=_str(obj, "node", what, _ID),
        role=_role(obj, what),
        software=_str(obj, "software", what, _SOFTWARE),
        client_id=_int(obj, "client", what, low=1),
        protocol=PROTOCOL_VERSION,
    )


def _decode_heartbeat(body: bytes) -> Heartbeat:
    what = "heartbeat"
    fields = {"node", "role", "priority", "uplink", "relay", "seq", "console", "pending", "peers"}
    obj = _load_object(body, what, fields, _HEARTBEAT_OPTIONAL)
    peers_raw = obj["peers"]
    if (
        not isinstance(peers_raw, list)
        or len(peers_raw) > MAX_JSON_DOCS
        or not all(isinstance(p, str) and _ID.fullmatch(p) for p in peers_raw)
    ):
        raise RemoteProtocolError(
            f"{what}: field 'peers' must be a list of at most {MAX_JSON_DOCS} node ids"
        )
    console_raw, pending_raw = obj["console"], obj["pending"]
    if not isinstance(console_raw, dict) or len(console_raw) > MAX_JSON_DOCS:
        raise RemoteProtocolError(
            f"{what}: field 'console' must be an object of at most {MAX_JSON_DOCS}"
        )
    if not isinstance(pending_raw, dict) or len(pending_raw) > MAX_JSON_DOCS:
        raise RemoteProtocolError(
            f"{what}: field 'pending' must be an object of at most {MAX_JSON_DOCS}"
        )
    console: dict[str, dict[int, int]] = {}
    for doc, sv_raw in console_raw.items():
        if not valid_document_name(doc):
            raise RemoteProtocolError(f"{what}: field 'console' names unknown document {doc!r:.80}")
        if not isinstance(sv_raw, dict) or len(sv_raw) > 4096:
            raise RemoteProtocolError(f"{what}: field 'console' for {doc!r} is not a state vector")
        sv: dict[int, int] = {}
        for client, _clock in sv_raw.items():
            if not _CLIENT.fullmatch(client) or int(client) > MAX_VAR_UINT:
                raise RemoteProtocolError(f"{what}: field 'console' has client id {client!r:.30}")
            sv[int(client)] = _int(sv_raw, client, f"{what} console {doc}")
        console[doc] = sv
    pending: dict[str, int] = {}
    for doc in pending_raw:
        if not valid_document_name(doc):
            raise RemoteProtocolError(f"{what}: field 'pending' names unknown document {doc!r:.80}")
        pending[doc] = _int(pending_raw, doc, f"{what} pending")
    unreported, unreported_reason = (
        _decode_unreported(obj["unreported"], what) if "unreported" in obj else (0, "")
    )
    return Heartbeat(
        node=_str(obj, "node", what, _ID),
        role=_role(obj, what),
        priority=_int(obj, "priority", what, high=1_000_000),
        uplink=_bool(obj, "uplink", what),
        relay=_bool(obj, "relay", what),
        seq=_int(obj, "seq", what),
        console=console,
        pending=pending,
        peers=tuple(peers_raw),
        mesh=_decode_mesh(obj.get("mesh", {}), what),
        problem=_text(obj, "problem", what) if "problem" in obj else "",
        unreported=unreported,
        unreported_reason=unreported_reason,
        reports=_decode_reports(obj.get("reports", {}), what),
        owed=_decode_counts(obj.get("owed", {}), f"{what}: field 'owed'"),
    )


_HEARTBEAT_OPTIONAL = frozenset({"mesh", "problem", "unreported", "reports", "owed"})
_UNREPORTED_FIELDS = frozenset({"count", "reason"})


def _text(obj: dict[str, Any], key: str, what: str) -> str:
    """A sentence for people (a problem, a reason): plain text of at most MAX_NOTE_CHARS."""
    value = obj[key]
    problem = text_problem(value, MAX_NOTE_CHARS)
    if problem is not None:
        raise RemoteProtocolError(f"{what}: field {key!r} {problem}")
    assert isinstance(value, str)
    return value


def _decode_unreported(raw: Any, what: str) -> tuple[int, str]:
    """``{"count": 3, "reason": "..."}``: records the console cannot put in its reports, and why."""
    if not isinstance(raw, dict) or raw.keys() != _UNREPORTED_FIELDS:
        raise RemoteProtocolError(
            f"{what}: field 'unreported' must be an object with exactly 'count' and 'reason'"
        )
    count = _int(raw, "count", f"{what} unreported", low=1)
    return count, _text(raw, "reason", f"{what} unreported")


def _decode_counts(raw: Any, what: str) -> dict[str, int]:
    """``{"receipts": 3, "payments": 3}``: record kinds of meshpos.model.tally and counts."""
    if not isinstance(raw, dict) or not raw.keys() <= KINDS.keys():
        raise RemoteProtocolError(f"{what} must map record kinds ({', '.join(KINDS)}) to counts")
    return {kind: _int(raw, kind, what) for kind in raw}


def _decode_reports(raw: Any, what: str) -> dict[str, dict[str, dict[str, int]]]:
    """``{"ledger/2026-12-04": {"R1": {"receipts": 3}, ...}}``: per ledger document and register."""
    field_what = f"{what}: field 'reports'"
    if not isinstance(raw, dict) or len(raw) > MAX_JSON_DOCS:
        raise RemoteProtocolError(f"{field_what} must be an object of at most {MAX_JSON_DOCS}")
    reports: dict[str, dict[str, dict[str, int]]] = {}
    for doc, per_register in raw.items():
        if not valid_document_name(doc) or not is_ledger(doc):
            raise RemoteProtocolError(
                f"{field_what} names a document that is no ledger {doc!r:.80}"
            )
        if not isinstance(per_register, dict) or len(per_register) > MAX_JSON_DOCS:
            raise RemoteProtocolError(f"{field_what} for {doc!r} must be an object of registers")
        reports[doc] = {}
        for register, counts in per_register.items():
            if register != UNKNOWN_REGISTER and not _ID.fullmatch(register):
                raise RemoteProtocolError(
                    f"{field_what} names an invalid register {register!r:.80}"
                )
            reports[doc][register] = _decode_counts(counts, f"{field_what} {doc} {register}")
    return reports


_SUMMARY_FIELDS = frozenset({"role", "pending"})


def _decode_mesh(raw: Any, what: str) -> dict[str, PeerSummary]:
    """``{"R2": {"role": "register", "pending": 3}, ...}``: at most MAX_JSON_DOCS node ids."""
    if not isinstance(raw, dict) or len(raw) > MAX_JSON_DOCS:
        raise RemoteProtocolError(
            f"{what}: field 'mesh' must be an object of at most {MAX_JSON_DOCS} node ids"
        )
    mesh: dict[str, PeerSummary] = {}
    for node, summary in raw.items():
        if not _ID.fullmatch(node):
            raise RemoteProtocolError(f"{what}: field 'mesh' names an invalid node id {node!r:.80}")
        if not isinstance(summary, dict) or summary.keys() != _SUMMARY_FIELDS:
            raise RemoteProtocolError(
                f"{what}: field 'mesh' for {node!r} must be an object with exactly "
                "'role' and 'pending'"
            )
        role = summary["role"]
        if role not in NODE_ROLES:
            raise RemoteProtocolError(
                f"{what}: field 'mesh' for {node!r}: role must be register or kds"
            )
        mesh[node] = PeerSummary(
            role, _int(summary, "pending", f"{what}: field 'mesh' for {node!r}")
        )
    return mesh
