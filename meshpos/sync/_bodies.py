"""The JSON bodies of the hello and the heartbeat: their fields, both ways.

Encoding is compact and sorted, so a heartbeat is byte for byte what older nodes send when the optional
fields are empty. Decoding is strict (no duplicate keys, no NaN, every field checked against its bound) and
raises only :class:`~meshpos.errors.RemoteProtocolError`, naming the field (the checks of one field are
in ``_fields``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from meshpos.errors import RemoteProtocolError
from meshpos.lib0 import MAX_VAR_UINT
from meshpos.model.documents import is_ledger, valid_document_name
from meshpos.model.roles import NODE_ROLES
from meshpos.model.tally import KINDS, UNKNOWN_REGISTER
from meshpos.sync._far_bodies import MAX_FAR as MAX_FAR  # (the bound _spread keeps to)
from meshpos.sync._far_bodies import (
    decode_far,
    decode_far_compact,
    decode_gone,
    far_body,
    far_compact,
)
from meshpos.sync._features import FEATURES
from meshpos.sync._fields import (
    _ID,
    _bool,
    _int,
    _load_object,
    _role,
    _str,
    _text,
    reject_constant,
)
from meshpos.sync._gone_words import GONE_SIGNED_FEATURE, decode_gones
from meshpos.sync._held import HELD_COMPACT_FEATURE, HELD_FEATURE, MAX_HELD
from meshpos.sync._held_signed import (
    HELD_SIGNED_FEATURE,
    decode_helds,
    helds_wire,
    signed_parts_wire,
)
from meshpos.sync._held_wire import decode_held_compact, held_compact
from meshpos.sync._messages import (
    PROTOCOL_VERSION,
    SOFTWARE,
    Heartbeat,
    Hello,
    PeerSummary,
)
from meshpos.sync._said_words import SAID_SIGNED_FEATURE, decode_saids
from meshpos.sync._signed import (
    EPOCH_FEATURE,
    SIGNED_FEATURE,
    TICK_FEATURE,
    ConsoleSignatureRefused,
    ConsoleStatement,
    decode_epoch,
    decode_signed,
    decode_tick,
    signed_body,
    tick_wire,
)
from meshpos.sync._stall_words import STALL_SIGNED_FEATURE, decode_stalls
from meshpos.sync._topology import COMPACT_FAR_FEATURE, TOPOLOGY_FEATURE

MAX_JSON_DOCS = 1024  # documents listed in one heartbeat
#: client ids in one state vector of a heartbeat's ``console`` field (what a node keeps of it is
#: bounded by the same figure, so what it passes on is never refused: ``_claims``)
MAX_STATE_CLIENTS = 4096
_SOFTWARE = re.compile(r"^[\x21-\x7e]{1,64}$")
_CLIENT = re.compile(r"^(0|[1-9][0-9]{0,15})$")


def _json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()


#: optional fields newer than N−1 (compat/previous_release), each with the feature a peer must have
#: announced to be sent it (sync/_features.py). A part that adds an optional field adds one line here;
#: the encoders leave the field out for any other peer, so N−1 gets byte for byte what it accepts.
HELLO_FIELD_FEATURES: dict[str, str] = {}
HEARTBEAT_FIELD_FEATURES: dict[str, str] = {
    "far": TOPOLOGY_FEATURE,
    "gone": TOPOLOGY_FEATURE,
    "held": HELD_FEATURE,
    "farc": COMPACT_FAR_FEATURE,
    "heldc": HELD_COMPACT_FEATURE,
    "signed": SIGNED_FEATURE,
    "tick": TICK_FEATURE,
    "helds": HELD_SIGNED_FEATURE,
    "gones": GONE_SIGNED_FEATURE,
    "saids": SAID_SIGNED_FEATURE,
    "stalls": STALL_SIGNED_FEATURE,
    "epoch": EPOCH_FEATURE,
}
#: record kinds (meshpos.model.tally.KINDS) newer than N−1, each with the feature a peer must have
#: announced to be told their counts in ``reports`` and ``owed``: N−1 refuses a kind it does not know,
#: and counts none of it. A part that adds a kind adds one line here.
KIND_FEATURES: dict[str, str] = {}


def _for_peer(
    body: dict[str, Any], gated: dict[str, str], features: frozenset[str]
) -> dict[str, Any]:
    """``body`` without the fields whose feature the peer did not announce."""
    return {k: v for k, v in body.items() if k not in gated or gated[k] in features}


def _kinds_for_peer(counts: dict[str, int], features: frozenset[str]) -> dict[str, int]:
    """``counts`` less the record kinds the peer did not announce it knows (:data:`KIND_FEATURES`)."""
    return {
        k: n for k, n in counts.items() if k not in KIND_FEATURES or KIND_FEATURES[k] in features
    }


def hello_body(msg: Hello, features: frozenset[str] = FEATURES) -> bytes:
    """The hello's JSON for a peer that can take ``features`` (default: a peer like us)."""
    body = {
        "v": msg.protocol,
        "venue": msg.venue,
        "node": msg.node,
        "role": msg.role,
        "software": msg.software,
        "client": msg.client_id,
    }
    return _json(_for_peer(body, HELLO_FIELD_FEATURES, features))


def heartbeat_body(msg: Heartbeat, features: frozenset[str] = FEATURES) -> bytes:
    """The heartbeat's JSON for a peer that can take ``features`` (default: a peer like us).

    A tick's beat goes to every link as one object unless a link gets more (attestations, the
    console's state passed on: ``Synchronizer._addressed``): its last encoding is kept, by the
    identity of the beat (kept alive with it) and the features, and used again for the next link."""
    global _LAST_BEAT
    last = _LAST_BEAT
    if last[0] is msg and (last[1] is features or last[1] == features):
        return last[2]
    data = _heartbeat_body(msg, features)
    _LAST_BEAT = (msg, features, data)
    return data


#: (the beat last encoded, the features it was encoded for, its JSON): see heartbeat_body
_LAST_BEAT: tuple[Heartbeat | None, frozenset[str], bytes] = (None, frozenset(), b"")


def _heartbeat_body(msg: Heartbeat, features: frozenset[str]) -> bytes:
    body = {
        "node": msg.node,
        "role": msg.role,
        "priority": msg.priority,
        "uplink": msg.uplink,
        "relay": msg.relay,
        "seq": msg.seq,
        "console": {d: {str(c): k for c, k in sorted(sv.items())} for d, sv in msg.console.items()},
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
        body["reports"] = {
            doc: {register: _kinds_for_peer(counts, features) for register, counts in by.items()}
            for doc, by in msg.reports.items()
        }
    owed = _kinds_for_peer(msg.owed, features)
    if owed:
        body["owed"] = owed
    if msg.far and COMPACT_FAR_FEATURE in features:  # half the bytes (a beat carries up to 8)
        body["farc"] = {r.node: far_compact(r) for r in msg.far}
    elif msg.far:
        body["far"] = {r.node: far_body(r) for r in msg.far}
    if msg.gone:
        body["gone"] = dict(sorted(msg.gone.items()))
    if msg.held and HELD_COMPACT_FEATURE in features:  # grouped: a fraction of the bytes
        body["heldc"] = held_compact(msg.held)
    elif msg.held:
        body["held"] = {
            node: {doc: {str(c): k for c, k in sorted(sv.items())} for doc, sv in docs.items()}
            for node, docs in msg.held.items()
        }
    if msg.signed is not None:
        body["signed"] = signed_body(msg.signed)
    if msg.tick is not None:
        body["tick"] = tick_wire(msg.tick)
    if msg.epoch is not None:
        body["epoch"] = signed_body(msg.epoch)
    if msg.helds:
        body["helds"] = helds_wire(msg.helds)
    if msg.gones:
        body["gones"] = signed_parts_wire(msg.gones)
    if msg.saids:
        body["saids"] = signed_parts_wire(msg.saids)
    if msg.stalls:
        body["stalls"] = signed_parts_wire(msg.stalls)
    return _json(_for_peer(body, HEARTBEAT_FIELD_FEATURES, features))


def decode_hello(body: bytes) -> Hello:
    what = "hello"
    # version first, so a newer peer gets "protocol version" rather than "unknown field"
    try:
        probe = json.loads(body.decode("utf-8"), parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        probe = None
    if isinstance(probe, dict) and "v" in probe and probe["v"] != PROTOCOL_VERSION:
        # both versions named, and both releases where the peer's is readable: an operator mixing
        # releases across a protocol change learns which device runs what (compatibility rules)
        theirs = probe.get("software")
        release = f" ({theirs})" if isinstance(theirs, str) and _SOFTWARE.fullmatch(theirs) else ""
        raise RemoteProtocolError(
            f"hello: field 'v' (protocol version) is {probe['v']!r:.20}{release}, "
            f"we speak {PROTOCOL_VERSION} ({SOFTWARE})"
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


def decode_heartbeat(body: bytes) -> Heartbeat:
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
    console = _decode_console(console_raw, what)
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
        # (an optional field that is absent costs no call: most beats carry few of them)
        mesh=_decode_mesh(obj["mesh"], what) if "mesh" in obj else {},
        problem=_text(obj, "problem", what) if "problem" in obj else "",
        unreported=unreported,
        unreported_reason=unreported_reason,
        reports=_decode_reports(obj["reports"], what) if "reports" in obj else {},
        owed=_decode_counts(obj["owed"], f"{what}: field 'owed'") if "owed" in obj else {},
        far=(decode_far(obj["far"], what) if "far" in obj else ())
        + (decode_far_compact(obj["farc"], what) if "farc" in obj else ()),
        gone=decode_gone(obj["gone"], what) if "gone" in obj else {},
        held=decode_held_compact(obj["heldc"], what, "held" in obj)
        if "heldc" in obj
        else (_decode_held(obj["held"], what) if "held" in obj else {}),
        signed=decode_signed(obj["signed"], what) if "signed" in obj else None,
        tick=decode_tick(obj["tick"], what) if "tick" in obj else None,
        epoch=decode_epoch(obj["epoch"], what) if "epoch" in obj else None,
        helds=decode_helds(obj["helds"], what) if "helds" in obj else (),
        gones=decode_gones(obj["gones"], what) if "gones" in obj else (),
        saids=decode_saids(obj["saids"], what) if "saids" in obj else (),
        stalls=decode_stalls(obj["stalls"], what) if "stalls" in obj else (),
    )


def _decode_console(console_raw: dict[str, Any], what: str) -> dict[str, dict[int, int]]:
    console: dict[str, dict[int, int]] = {}
    for doc, sv_raw in console_raw.items():
        if not valid_document_name(doc):
            raise RemoteProtocolError(f"{what}: field 'console' names unknown document {doc!r:.80}")
        if not isinstance(sv_raw, dict) or len(sv_raw) > MAX_STATE_CLIENTS:
            raise RemoteProtocolError(f"{what}: field 'console' for {doc!r} is not a state vector")
        sv: dict[int, int] = {}
        for client, _clock in sv_raw.items():
            if not _CLIENT.fullmatch(client) or int(client) > MAX_VAR_UINT:
                raise RemoteProtocolError(f"{what}: field 'console' has client id {client!r:.30}")
            sv[int(client)] = _int(sv_raw, client, f"{what} console {doc}")
        console[doc] = sv
    return console


_STATEMENT = {"venue", "at", "console", "reports"}


def statement_body(content: dict[str, Any]) -> str:
    """The body the console signs: ``content`` (venue, at, console, reports, unreported) as compact,
    sorted ASCII JSON, in the heartbeat's own shapes."""
    body = {
        "venue": content["venue"],
        "at": content["at"],
        "console": {
            d: {str(c): k for c, k in sorted(sv.items())} for d, sv in content["console"].items()
        },
        "reports": content["reports"],
    }
    count, reason = content.get("unreported", (0, ""))
    if count:
        body["unreported"] = {"count": count, "reason": reason}
    return _json(body).decode("ascii")


def decode_statement(body: str) -> ConsoleStatement:
    """A signed statement's body (its signature checked already); anything malformed is refused as
    a bad signature would be: the console never signs it."""
    what = "console statement"
    try:
        obj = _load_object(body.encode("ascii"), what, _STATEMENT, frozenset({"unreported"}))
        console_raw = obj["console"]
        if not isinstance(console_raw, dict) or len(console_raw) > MAX_JSON_DOCS:
            raise RemoteProtocolError(f"{what}: field 'console' is not an object of documents")
        return ConsoleStatement(
            venue=_str(obj, "venue", what, _ID),
            at=_int(obj, "at", what),
            console=_decode_console(console_raw, what),
            reports=_decode_reports(obj["reports"], what),
            unreported=_decode_unreported(obj["unreported"], what)
            if "unreported" in obj
            else (0, ""),
        )
    except RemoteProtocolError as exc:
        raise ConsoleSignatureRefused(str(exc)) from None


_HEARTBEAT_OPTIONAL = frozenset(
    {
        "mesh",
        "problem",
        "unreported",
        "reports",
        "owed",
        "far",
        "farc",
        "gone",
        "held",
        "heldc",
        "signed",
        "tick",
        "epoch",
        "helds",
        "gones",
        "saids",
        "stalls",
    }
)
_UNREPORTED_FIELDS = frozenset({"count", "reason"})


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


def _decode_held(raw: Any, what: str) -> dict[str, dict[str, dict[int, int]]]:
    """``{"R5": {"ledger/2026-12-05": {"123": 40}}}``: attestations (sync/_held.py), at most MAX_HELD
    (node, document, client) entries in all."""
    field_what = f"{what}: field 'held'"
    if not isinstance(raw, dict):
        raise RemoteProtocolError(f"{field_what} must be an object of node ids")
    held: dict[str, dict[str, dict[int, int]]] = {}
    entries = 0
    for node, docs in raw.items():
        if not _ID.fullmatch(node):
            raise RemoteProtocolError(f"{field_what} names an invalid node id {node!r:.80}")
        if not isinstance(docs, dict) or not docs:
            raise RemoteProtocolError(f"{field_what} for {node!r} must be an object of documents")
        held[node] = {}
        for doc, sv in docs.items():
            if not valid_document_name(doc) or not is_ledger(doc):
                raise RemoteProtocolError(f"{field_what} for {node!r} names no ledger {doc!r:.80}")
            if not isinstance(sv, dict) or not sv:
                raise RemoteProtocolError(f"{field_what} for {node!r} {doc}: not a state vector")
            entries += len(sv)
            if entries > MAX_HELD:
                raise RemoteProtocolError(f"{field_what}: more than {MAX_HELD} entries")
            clocks: dict[int, int] = {}
            for client in sv:
                if not _CLIENT.fullmatch(client) or not 0 < int(client) <= MAX_VAR_UINT:
                    raise RemoteProtocolError(f"{field_what} has client id {client!r:.30}")
                clocks[int(client)] = _int(sv, client, f"{field_what} for {node!r} {doc}", low=1)
            held[node][doc] = clocks
    return held
