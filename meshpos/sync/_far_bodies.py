"""The heartbeat's summary of the nodes beyond the sender's links (``far``, ``farc``, ``gone``;
sync/_topology.py): its JSON both ways, checked like the rest of the body (``_bodies``, ``_fields``).

Kept apart from ``_bodies`` (which assembles the whole heartbeat) so each stays readable in one sitting.
"""

from __future__ import annotations

from typing import Any

from meshpos.errors import RemoteProtocolError
from meshpos.lib0 import MAX_VAR_UINT
from meshpos.model.roles import ROLES
from meshpos.sync._fields import _ID, _bool, _int, _role, _text
from meshpos.sync._messages import FarRecord

MAX_FAR = 64  # records (and gone nodes) in one heartbeat: a few candidates, the news and a window
_FAR_FIELDS = frozenset({"role", "priority", "uplink", "relay", "seq", "pending", "client"})


def far_body(r: FarRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "role": r.role,
        "priority": r.priority,
        "uplink": r.uplink,
        "relay": r.relay,
        "seq": r.seq,
        "pending": r.pending,
        "client": r.client,
    }
    if r.problem:
        body["problem"] = r.problem
    return body


#: ``farc``'s array: these, in this order, then the problem when there is one
_FAR_ORDER = ("role", "priority", "uplink", "relay", "seq", "pending", "client")


def far_compact(r: FarRecord) -> list[Any]:
    """A far record as an array (~60 bytes instead of ~125): role, priority, uplink and relay as 0
    or 1, seq, pending, client, and the problem when there is one."""
    row: list[Any] = [r.role, r.priority, int(r.uplink), int(r.relay), r.seq, r.pending, r.client]
    if r.problem:
        row.append(r.problem)
    return row


def _far_row(node: str, row: Any) -> FarRecord | None:
    """The usual row (no problem, every value in bounds) checked in one expression: a beat carries up
    to 8 and a welcome 24, and the field-by-field checks below were half of a heartbeat's decoding.
    None when anything differs from that: the checks below then name what is wrong, or take it."""
    if type(row) is not list or len(row) != len(_FAR_ORDER) or not _ID.fullmatch(node):
        return None
    role, priority, uplink, relay, seq, pending, client = row
    if (
        role in ROLES
        and type(priority) is int
        and 0 <= priority <= 1_000_000
        and type(uplink) is int
        and uplink in (0, 1)
        and type(relay) is int
        and relay in (0, 1)
        and type(seq) is int
        and 0 <= seq <= MAX_VAR_UINT
        and type(pending) is int
        and 0 <= pending <= MAX_VAR_UINT
        and type(client) is int
        and 0 <= client <= MAX_VAR_UINT
    ):
        return FarRecord(node, role, priority, uplink == 1, relay == 1, seq, pending, "", client)
    return None


def decode_far_compact(raw: Any, what: str) -> tuple[FarRecord, ...]:
    """``{"R2": ["register", 100, 1, 0, 17, 0, 123]}``: at most MAX_FAR (``far_compact``)."""
    field_what = f"{what}: field 'farc'"
    if not isinstance(raw, dict) or len(raw) > MAX_FAR:
        raise RemoteProtocolError(f"{field_what} must be an object of at most {MAX_FAR} node ids")
    return tuple(
        _far_row(node, row) or _far_row_checked(node, row, field_what) for node, row in raw.items()
    )


def _far_row_checked(node: str, row: Any, field_what: str) -> FarRecord:
    """One row of ``farc``, each value checked on its own: raises naming what is wrong."""
    if not _ID.fullmatch(node):
        raise RemoteProtocolError(f"{field_what} names an invalid node id {node!r:.80}")
    if not isinstance(row, list) or len(row) not in (len(_FAR_ORDER), len(_FAR_ORDER) + 1):
        raise RemoteProtocolError(
            f"{field_what} for {node!r} must be an array of {', '.join(_FAR_ORDER)} and an "
            "optional problem"
        )
    body = dict(zip(_FAR_ORDER, row, strict=False))
    each = f"{field_what} for {node!r}"
    flags = {}
    for key in ("uplink", "relay"):
        if body[key] not in (0, 1) or isinstance(body[key], bool):
            raise RemoteProtocolError(f"{each}: {key} must be 0 or 1")
        flags[key] = body[key] == 1
    if len(row) > len(_FAR_ORDER):
        body["problem"] = row[-1]
    return FarRecord(
        node=node,
        role=_role(body, each),
        priority=_int(body, "priority", each, high=1_000_000),
        uplink=flags["uplink"],
        relay=flags["relay"],
        seq=_int(body, "seq", each),
        pending=_int(body, "pending", each),
        problem=_text(body, "problem", each) if "problem" in body else "",
        client=_int(body, "client", each),
    )


def decode_far(raw: Any, what: str) -> tuple[FarRecord, ...]:
    """``{"R2": {"role": "register", "priority": 100, "uplink": true, ...}}``: at most MAX_FAR."""
    field_what = f"{what}: field 'far'"
    if not isinstance(raw, dict) or len(raw) > MAX_FAR:
        raise RemoteProtocolError(f"{field_what} must be an object of at most {MAX_FAR} node ids")
    records = []
    for node, body in raw.items():
        if not _ID.fullmatch(node):
            raise RemoteProtocolError(f"{field_what} names an invalid node id {node!r:.80}")
        if not isinstance(body, dict) or not _FAR_FIELDS <= body.keys() <= _FAR_FIELDS | {
            "problem"
        }:
            raise RemoteProtocolError(
                f"{field_what} for {node!r} must be an object with {', '.join(sorted(_FAR_FIELDS))}"
                " and an optional problem"
            )
        each = f"{field_what} for {node!r}"
        records.append(
            FarRecord(
                node=node,
                role=_role(body, each),
                priority=_int(body, "priority", each, high=1_000_000),
                uplink=_bool(body, "uplink", each),
                relay=_bool(body, "relay", each),
                seq=_int(body, "seq", each),
                pending=_int(body, "pending", each),
                problem=_text(body, "problem", each) if "problem" in body else "",
                client=_int(body, "client", each),
            )
        )
    return tuple(records)


def decode_gone(raw: Any, what: str) -> dict[str, int]:
    """``{"R5": 17}``: nodes the sender knows are gone, with the last seq it heard of each."""
    field_what = f"{what}: field 'gone'"
    if not isinstance(raw, dict) or len(raw) > MAX_FAR:
        raise RemoteProtocolError(f"{field_what} must be an object of at most {MAX_FAR} node ids")
    for node in raw:
        if not _ID.fullmatch(node):
            raise RemoteProtocolError(f"{field_what} names an invalid node id {node!r:.80}")
    return {node: _int(raw, node, field_what) for node in raw}
