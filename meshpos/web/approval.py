"""Manager approval on the spot: an action needing a right the cashier lacks is sent again with the PIN of a
user who holds it (docs/architecture.md (Node)).

The page never says who approved: the approver's PIN is checked here against the catalog's PIN hash, with
the same per-user and per-client limits as login (:mod:`meshpos.web.pins`), and the record names the
approver (``approved_by``). The cashier stays logged in: nothing of the approver is kept by the page.
"""

from __future__ import annotations

import asyncio

from meshpos.errors import UnknownRecord
from meshpos.httpapi.routes import Field, text
from meshpos.httpapi.server import HttpError
from meshpos.model import verify_pin
from meshpos.model.limits import MAX_ID_CHARS
from meshpos.web.routes import Call

NEEDS_APPROVAL = "needs_approval"
"""The 403 code of an action the cashier may not do alone; its message names the right."""

APPROVER: tuple[Field, ...] = (
    text(
        "approver",
        MAX_ID_CHARS,
        "id of a user holding the right the action needs (manager approval on the spot); "
        "empty: the user must hold it",
        default="",
    ),
    text("approver_pin", MAX_ID_CHARS, "the approver's PIN, checked like a login", default=""),
)

APPROVAL_DOC = (
    f"A user without the right gets 403 {NEEDS_APPROVAL} (the message names the right): send the "
    "same request again with `approver` and `approver_pin` of a user who holds it. A wrong PIN or an "
    "approver without the right is 403 approval_refused; wrong PINs are limited as at /api/login "
    "(429 pin_locked). The record names the approver (`approved_by`)."
)


async def pin_ok(c: Call, user_id: str, pin: str) -> bool:
    """Whether ``pin`` is ``user_id``'s PIN, within the node's PIN-guessing limits (429 pin_locked past
    them). PINs are scrypt hashes (slow on purpose), so the check runs off the event loop; an unknown
    user costs a strike like a wrong PIN, so the answers do not tell which users exist."""
    assert c.pins is not None, "the API hands every call its PinGuard"
    attempt = c.pins.admit(user_id, c.request.peer or "unknown")
    ok = False
    try:
        try:
            user = c.node.catalog().user(user_id)
        except UnknownRecord:
            return False
        ok = await asyncio.to_thread(verify_pin, pin, user.pin_hash)
        return ok
    finally:
        c.pins.finish(attempt, ok)


async def approver(c: Call, right: str) -> str:
    """The approving user of this call ("" when none was sent), once their PIN and ``right`` are
    checked; a wrong PIN or an approver without the right is 403 ``approval_refused``."""
    c.approves = right  # lacking it is then needs_approval, not a plain refusal
    who, pin = str(c.body["approver"]), str(c.body["approver_pin"])
    if not who:
        return ""
    if not await pin_ok(c, who, pin):
        raise HttpError(403, "approval_refused", "approval refused: unknown approver or wrong PIN")
    if right not in c.node.catalog().rights(who):
        name = c.node.catalog().user(who).name
        raise HttpError(403, "approval_refused", f"{name} may not {right.replace('_', ' ')} either")
    return who
