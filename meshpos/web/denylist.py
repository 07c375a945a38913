"""The venue's deny-list on this node: read it, and hand the node a revocation to enforce and spread.

``meshpos revoke DEVICE --venue DIR --node URL`` signs the entry with the venue's authority and posts it
here. The node checks the signature against its venue CA (a node can neither forge nor alter an entry),
drops its link to the device, commits the entry to the ``denylist`` document and so sends it to every
peer, which drops the device too. The answer comes once the entry is committed.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshpos.errors import MeshposError
from meshpos.model.limits import MAX_ID_CHARS, MAX_NOTE_CHARS, SAFE_INTEGER
from meshpos.trust.names import is_device_id
from meshpos.web.http import HttpError
from meshpos.web.routes import Call, Field, Route, opt, text


@dataclass(frozen=True, slots=True)
class Revocation:
    """A deny-list entry signed by the venue's certificate authority (what ``meshpos revoke`` prints)."""

    device: str
    at: int  # when it was signed, milliseconds since the epoch
    reason: str
    sig: str  # base64 ECDSA signature by the venue CA


@dataclass(frozen=True, slots=True)
class DenyListView:
    """The devices this node refuses, and the venue whose authority must sign a revocation."""

    node: str
    venue: str
    revoked: list[Revocation]


@dataclass(frozen=True, slots=True)
class Revoked:
    ok: bool
    node: str
    device: str
    already: bool  # the node enforced this revocation before
    message: str


def _view(entry: dict[str, str | int]) -> Revocation:
    return Revocation(
        str(entry["device"]), int(entry["at"]), str(entry["reason"]), str(entry["sig"])
    )


async def denylist(c: Call) -> DenyListView:
    node = c.node
    return DenyListView(node.node_id, node.venue_id, [_view(e) for e in node.revocations()])


async def revoke(c: Call) -> Revoked:
    node, body = c.node, c.body
    venue, device = node.venue_id, body["device"]
    if body["venue"] is not None and body["venue"] != venue:
        raise HttpError(
            422,
            "wrong_venue",
            f"this node ({node.node_id}) belongs to venue {venue}, "
            f"not {body['venue']}: give the venue directory of {venue}",
        )
    if not is_device_id(device):
        raise HttpError(
            422,
            "invalid_device_id",
            f"device id {device!r:.40}: use 1-32 letters, digits, '-' or '_'",
        )
    already = node.is_revoked(device)
    entry = {k: body[k] for k in ("device", "at", "reason", "sig")}
    try:
        await node.revoke(entry)
    except MeshposError as exc:
        if "revocation refused" not in exc.message:
            raise
        raise HttpError(
            422,
            "revocation_refused",
            f"the revocation of {device} is not signed by the authority of venue {venue} "
            "(altered, or signed by another venue's authority); nothing was written",
        ) from None
    return Revoked(
        True,
        node.node_id,
        device,
        already,
        f"{device} is revoked on {node.node_id}: its link is dropped and refused, and the "
        "revocation is on its way to every peer",
    )


ROUTES = (
    Route(
        "GET",
        "/api/denylist",
        denylist,
        "The venue's deny-list as this node enforces it",
        DenyListView,
        tag="system",
    ),
    Route(
        "POST",
        "/api/denylist",
        revoke,
        "Revoke a device: enforce a CA-signed deny-list entry and spread it through the mesh",
        Revoked,
        body=(
            text("device", MAX_ID_CHARS, "the revoked device's id"),
            Field(
                "at",
                int,
                "when the entry was signed (ms since the epoch), as printed",
                minimum=0,
                maximum=SAFE_INTEGER,
            ),
            text("reason", MAX_NOTE_CHARS, "as printed by meshpos revoke (may be empty)"),
            text("sig", MAX_NOTE_CHARS, "the venue CA's signature, as printed by meshpos revoke"),
            opt(
                "venue",
                str | None,
                None,
                "the venue id the entry is for; refused if not this node's",
                max_chars=MAX_ID_CHARS,
            ),
        ),
        tag="system",
        description=(
            "The body is the entry `meshpos revoke` prints (plus `venue`). 422 `wrong_venue`, "
            "`invalid_device_id` or `revocation_refused` (not signed by this venue's authority) "
            "write nothing. Answers once the entry is committed; peers learn it through the mesh."
        ),
    ),
)
