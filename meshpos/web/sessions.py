"""Who may write with the register page's token: a write's acting user is bound to a PIN sign-in.

The node has two credentials (docs/architecture.md (Security)). The **API token** (``<data_dir>/api.token``)
is full trust: the app holding it authenticates its users itself, and reading the data dir is admin
already. The **page token** (:func:`page_token_of`, derived from the API token) is what the pages embed, so anyone at the register
can read it: with it a read is allowed as with the API token, but a write must carry a **session** in
``X-Meshpos-Session`` that ``POST /api/login`` handed out after the user's PIN, and its body's ``user``
must be that session's user. Otherwise anyone at the register could refund, void or open the drawer
naming the manager, with no PIN.

Sessions live in memory only (a restart ends them all: the page gets 401 ``session_ended`` and asks for
the PIN again), are bounded in number (the oldest used is forgotten first) and end by logout or after
``idle_s`` unused (the node's ``session_idle_s``: node.toml, meshpos.config).

A sign-in is made at the register or at the kitchen screen (``POST /api/login``'s ``at``; every sign-in on
a kitchen screen node, role ``kds``, is a kitchen one). A **kitchen sign-in** writes only on the routes
whose ``page_writes`` is ``kitchen`` (bump, recall, the stop list), in its user's name, whatever rights the
user holds: the kitchen screen is left signed in for a whole shift by design, so what a passer-by can do
there is kept to the kitchen's moves (403 ``kitchen_sign_in`` elsewhere), never a sale, a refund or the
drawer. Before (issue 18, cook) the kitchen named its cook from a list with no PIN and the node let a
kitchen write name any user holding no right without a sign-in: anyone at any page stopped items or
bumped tickets in a cook's name.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshpos.httpapi.server import HttpError

HEADER_NAME = "X-Meshpos-Session"
"""The request header a page's write carries its session in."""
HEADER = HEADER_NAME.lower()  # as the server's requests hold their headers
AT_REGISTER, AT_KITCHEN = "register", "kitchen"
"""Where a page signs its user in (``POST /api/login``'s ``at``)."""
MAX_SESSIONS = 256  # sign-ins kept; the one unused longest goes first
SESSION_BYTES = 32  # 256 bits of randomness
SESSION_CHARS = len(secrets.token_urlsafe(SESSION_BYTES))  # 43
_SESSION_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{{SESSION_CHARS}}}")
"""What :meth:`Sessions.start` hands out. Anything else was never a session: a 400 naming the header
tells a register app's developer their client is wrong, where "this sign-in has ended" sent them to
ask the cashier for a PIN again."""


@dataclass(slots=True)
class _Session:
    user: str
    used: float
    kitchen: bool  # made at the kitchen screen: writes on kitchen routes only (module docstring)


class Sessions:
    """The sign-ins of one node run, in memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, idle_s: float) -> None:
        self.clock = clock
        self.idle_s = idle_s
        self._by_id: OrderedDict[str, _Session] = OrderedDict()

    def start(self, user: str, *, kitchen: bool = False) -> str:
        session = secrets.token_urlsafe(SESSION_BYTES)
        self._by_id[session] = _Session(user, self.clock(), kitchen)
        while len(self._by_id) > MAX_SESSIONS:
            self._by_id.popitem(last=False)
        return session

    def end(self, session: str) -> bool:
        return self._by_id.pop(session, None) is not None

    def user_of(self, session: str) -> str:
        """The signed-in user of ``session``; 401 ``session_ended`` when it is unknown, ended or idle
        past ``idle_s`` (after a restart every session is unknown)."""
        return self.signed_in(session).user

    def signed_in(self, session: str) -> _Session:
        """:meth:`user_of`, with where the sign-in was made; a use keeps it alive."""
        entry = self.peek(session)
        entry.used = self.clock()
        self._by_id.move_to_end(session)
        return entry

    def peek(self, session: str) -> _Session:
        """:meth:`signed_in` without keeping it alive: a page asking who is signed in (to show the
        truth after an idle end or a restart) must not keep a forgotten sign-in going for ever."""
        if session and not _SESSION_SHAPE.fullmatch(session):
            raise HttpError(
                400,
                "bad_session",
                f"{HEADER_NAME} is not a session: it must be the {SESSION_CHARS} URL-safe "
                f"characters POST /api/login answered, not {len(session)} characters"
                + ("" if len(session) != SESSION_CHARS else " with others among them"),
            )
        entry = self._by_id.get(session) if session else None
        if entry is not None and self.clock() - entry.used > self.idle_s:
            del self._by_id[session]
            entry = None
        if entry is None:
            raise HttpError(
                401,
                "session_ended",
                "this sign-in has ended (logged out, idle too long or the node restarted): "
                "sign in again with your PIN",
            )
        return entry


PAGE_TOKEN_DOMAIN = b"meshpos-page-token-v1"


def page_token_of(api_token: str) -> str:
    """The page token of a node whose API token is ``api_token``: derived, not stored.

    A file of its own (``page.token``) was one more thing a start wrote before it checked the rest of
    the data dir (a start refused for a bad ``api.url`` left a new file behind), and one a backup did
    not hold, so a restored register's open pages lost their token. Derived, it is the same across
    restarts and restores, changes when the API token is replaced, and tells nothing of the API token
    (HMAC-SHA256 keyed with it)."""
    return hmac.new(api_token.encode(), PAGE_TOKEN_DOMAIN, hashlib.sha256).hexdigest()


def same_token(sent: str, token: str) -> bool:
    return hmac.compare_digest(sent.strip().encode(), token.encode())


def session_required(what: str) -> HttpError:
    """401 ``session_required``: ``what`` came with no session. Apart from ``session_ended``, which
    tells a page that a sign-in it made has ended; a client that never sent one is told to sign in."""
    return HttpError(
        401,
        "session_required",
        f"{what} needs a sign-in: POST /api/login with the user's PIN, then send its session in "
        f"{HEADER_NAME}",
    )


def check_page_write(
    sessions: Sessions,
    session: str,
    user: str | None,
    kitchen: bool,
    rights_of: Callable[[str], frozenset[str]],
    known: Callable[[str], bool],
    right: str = "",
) -> None:
    """Refuse a write made with the page token unless its acting ``user`` (None: the route names
    none) is the signed-in user of ``session``; a kitchen sign-in writes only where ``kitchen`` (the
    route's ``page_writes`` is ``kitchen``).

    A session whose user the catalog no longer holds (the manager removed them) has ended: a write
    naming its user was refused as ``unknown_user``, but one naming none (clear cache, the deny-list)
    still went as that user's (red, fourteenth session). ``right``: what the signed-in user must hold
    for a write whose route names no acting user the model checks a right of (clear cache: any
    signed-in cook could drop the register's catalog; red, fifteenth session)."""
    if not session:
        raise session_required("a write with the page's token")
    entry = sessions.signed_in(session)
    signed_in = entry.user
    if not known(signed_in):
        sessions.end(session)
        raise HttpError(
            401,
            "session_ended",
            f"user {signed_in!r} is no longer one of the venue's users: this sign-in has ended",
        )
    if entry.kitchen and not kitchen:
        raise HttpError(
            403,
            "kitchen_sign_in",
            f"{signed_in!r} signed in at the kitchen screen, which bumps and recalls tickets and "
            "stops items only: sign in at the register for this",
        )
    if user is not None and user != signed_in:
        raise HttpError(
            403,
            "user_mismatch",
            f"this write names user {user!r} but {signed_in!r} is signed in: the acting user is "
            "the one who signed in with their PIN (another user signs in, or approves with "
            "approver and approver_pin)",
        )
    if right and right not in rights_of(signed_in):
        raise HttpError(
            403,
            "permission_denied",
            f"user {signed_in!r} may not do this: it needs the {right!r} right (a manager's); "
            "a user holding it signs in",
        )


SESSION_PARAM: dict[str, Any] = {
    "name": HEADER_NAME,
    "in": "header",
    "required": False,
    "description": (
        "The session POST /api/login answered. Required on a write made with the page's token "
        "(401 session_required; ended by logout, idle or a restart: 401 session_ended), whose "
        "`user` must be the session's (403 user_mismatch); a kitchen sign-in (POST /api/login "
        "with `at`: kitchen) writes only on the kitchen's routes (403 kitchen_sign_in); a value "
        "of another shape is 400 bad_session. Ignored on writes with the API token."
    ),
    "schema": {"type": "string", "pattern": f"^[A-Za-z0-9_-]{{{SESSION_CHARS}}}$"},
}
