"""What a register sells: the catalog with stop marks, the stop list itself, and the cashier's PIN check.

**Changed** (outside, the twenty-second session): ``GET /api/session`` with no session answers 401
``session_required`` as a write does; ``session_ended`` told a client that never signed in that its
sign-in had ended.
"""

from __future__ import annotations

from meshpos.errors import UnknownRecord
from meshpos.httpapi.routes import Field, Route, text
from meshpos.httpapi.server import HttpError
from meshpos.model.limits import MAX_ID_CHARS
from meshpos.web.approval import pin_ok
from meshpos.web.pins import CLIENT_STRIKES, CLIENT_WINDOW_S, USER_STRIKES
from meshpos.web.routes import USER, Call
from meshpos.web.sessions import AT_KITCHEN, AT_REGISTER, SESSION_PARAM, session_required
from meshpos.web.views import (
    CatalogView,
    LoginView,
    LogoutView,
    SessionView,
    StopView,
    catalog_view,
    stop_view,
    stop_views,
    user_view,
)


async def catalog(c: Call) -> CatalogView:
    return catalog_view(c.node)


async def stoplist(c: Call) -> list[StopView]:
    stopped = [view for view in stop_views(c.node).values() if view.stopped]
    return sorted(stopped, key=lambda view: (view.name, view.product_id))


async def set_stop(c: Call) -> StopView:
    product = c.product()
    user, stopped = c.body["user"], c.body["stopped"]
    # the answer is made inside the write: a keyed retry replays it (web/idempotency.py)
    node = c.node
    return await node.write(
        lambda venue, now: stop_view(node, venue.set_stop(user, product.id, stopped, now))
    )


async def login(c: Call) -> LoginView:
    """The PIN check and its limits on guessing are :func:`meshpos.web.approval.pin_ok`'s; the session
    binds the page's writes to this user (:mod:`meshpos.web.sessions`). A kitchen screen node's
    sign-ins are all kitchen ones: it has no register for a wider one to be used at. Signing in ends
    the sign-in the page had only once the new PIN is right, so the kitchen's hand-over to the next
    cook is this one call, and a mistyped PIN leaves the screen as it was."""
    if not await pin_ok(c, c.body["user"], c.body["pin"]):
        raise HttpError(403, "login_refused", "unknown user or wrong PIN")
    user = c.node.catalog().user(c.body["user"])
    at = AT_KITCHEN if c.node.role == "kds" else c.body["at"]
    assert c.sessions is not None, "the API hands every call its sessions"
    if c.session:  # signing in on a page ends the sign-in it had
        c.sessions.end(c.session)
    session = c.sessions.start(user.id, kitchen=at == AT_KITCHEN)
    return LoginView(True, user_view(c.node, user.id), session, at)


async def signed_in(c: Call) -> SessionView:
    """Asked by the kitchen screen and the register page on their first load, after every reconnect
    and each minute, so their header never names a cook or cashier whose sign-in the node ended
    (idle, a restart, the user removed); asking does not keep the sign-in alive (:meth:`Sessions.peek`)."""
    assert c.sessions is not None, "the API hands every call its sessions"
    if not c.session:
        raise session_required("asking who is signed in")
    entry = c.sessions.peek(c.session)
    try:
        user = user_view(c.node, entry.user)
    except UnknownRecord:
        c.sessions.end(c.session)
        raise HttpError(
            401,
            "session_ended",
            f"user {entry.user!r} is no longer one of the venue's users: this sign-in has ended",
        ) from None
    return SessionView(user, AT_KITCHEN if entry.kitchen else AT_REGISTER)


async def logout(c: Call) -> LogoutView:
    assert c.sessions is not None, "the API hands every call its sessions"
    return LogoutView(c.sessions.end(c.session))


ROUTES = (
    Route(
        "GET",
        "/api/catalog",
        catalog,
        "Products with prices, categories, modifier groups, discounts and users; stopped items marked",
        CatalogView,
        tag="catalog",
    ),
    Route(
        "GET",
        "/api/stoplist",
        stoplist,
        "Items that cannot be sold now, with who stopped them and when",
        list[StopView],
        tag="catalog",
    ),
    Route(
        "PUT",
        "/api/stoplist/{product_id}",
        set_stop,
        "Stop an item or make it available again (registers and kitchen screens)",
        StopView,
        body=(USER, Field("stopped", bool, "true: stop it; false: available again")),
        tag="catalog",
        page_writes="kitchen",
    ),
    Route(
        "POST",
        "/api/login",
        login,
        "Sign a user in with their PIN (the register page's cashier, the kitchen screen's cook)",
        LoginView,
        body=(
            text("user", MAX_ID_CHARS, "user id"),
            text("pin", MAX_ID_CHARS, "4 to 8 digits"),
            text(
                "at",
                MAX_ID_CHARS,
                "where the user signs in: `kitchen` (the kitchen screen: its session bumps, "
                "recalls and stops items only, 403 kitchen_sign_in elsewhere) or `register`; "
                "a kitchen screen node's sign-ins are all `kitchen`",
                default=AT_REGISTER,
                pattern=f"^({AT_REGISTER}|{AT_KITCHEN})$",
            ),
        ),
        tag="catalog",
        description=(
            "Any user of the venue may sign in at the kitchen: its moves need no right, and they "
            "go in the signed-in user's name. A sign-in on a page that had one ends the old one "
            "once the PIN is right (the kitchen's hand-over). "
            "Unknown user or wrong PIN: 403 login_refused (which one is not said). After "
            f"{USER_STRIKES} wrong PINs for one user, or {CLIENT_STRIKES} from one address within "
            f"{CLIENT_WINDOW_S:.0f} s, login is locked for that user or address: 429 pin_locked with "
            "Retry-After, and the PIN is not checked (a right one is refused too) until the lock "
            "ends. Each further lock lasts twice as long."
        ),
        limited=True,
        page_writes="anyone",
    ),
    Route(
        "GET",
        "/api/session",
        signed_in,
        "Who is signed in with the session in X-Meshpos-Session (the kitchen's and the register's header)",
        SessionView,
        tag="catalog",
        description=(
            "401 session_ended when that sign-in has ended (logout, idle, a restart of the node, "
            "the user removed); 401 session_required when none was sent. Asking does not keep a "
            "sign-in alive."
        ),
        headers=(SESSION_PARAM,),
    ),
    Route(
        "POST",
        "/api/logout",
        logout,
        "End the sign-in named by X-Meshpos-Session (the register page's log out)",
        LogoutView,
        tag="catalog",
        description="`ended` is false when that session had ended already (or none was sent).",
        page_writes="anyone",
    ),
)
