"""The node's local HTTP API and pages: one route table, one dispatcher, one mapping of errors to statuses.

``make_handler(node, token, page_token)`` is what the node serves; ``node`` is any :class:`meshpos.web.port.NodeAPI`. Every route under ``/api/`` except the OpenAPI
document needs ``Authorization: Bearer <token>``: the API token (``<data_dir>/api.token``, full trust) or
the page token the pages embed for loopback browsers only, whose writes need a PIN sign-in
(:mod:`meshpos.web.sessions`); the event stream also takes ``?token=`` because a browser's EventSource
cannot send headers. ``GET /status`` and ``GET /health`` stay open for ``meshpos status``.

Status codes: 400 malformed request, 401 token, 403 not allowed (role or user right), 404 unknown route or
unknown id in the path, 405 wrong method, 409 refused by the current state, 422 a value breaking a rule,
503 the node cannot write. Every error body is ``{"error": {"code", "message"}}`` with a stable code.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from meshpos.errors import (
    CorruptRecord,
    DayDropped,
    DayStillOpen,
    DomainError,
    InvalidInput,
    InvalidTransition,
    ItemStopped,
    MeshposError,
    OrderNotOpen,
    Overpayment,
    OverRefund,
    PermissionDenied,
    ReceiptNumbersUnknown,
    ShiftError,
    StoreError,
    TableTaken,
    UnknownRecord,
)
from meshpos.httpapi.openapi import document_route
from meshpos.httpapi.routes import Route, match
from meshpos.httpapi.schema import to_json
from meshpos.httpapi.server import Handler, HttpError, Request, Response
from meshpos.web import (
    days,
    denylist,
    events,
    idempotency,
    kitchen,
    menu,
    metrics,
    orders,
    pages,
    receipt_search,
    shifts,
    system,
)
from meshpos.web.approval import NEEDS_APPROVAL
from meshpos.web.pins import PinGuard
from meshpos.web.port import NodeAPI
from meshpos.web.routes import USER, Call
from meshpos.web.sessions import (
    HEADER,
    SESSION_PARAM,
    Sessions,
    check_page_write,
    page_token_of,
    same_token,
)

log = logging.getLogger("meshpos.web")

CONFLICTS = (
    DayDropped,
    DayStillOpen,
    ItemStopped,
    OrderNotOpen,
    ShiftError,
    InvalidTransition,
    Overpayment,
    OverRefund,
    ReceiptNumbersUnknown,
    TableTaken,
)


def http_error(exc: MeshposError, approvable: str = "") -> HttpError:
    """The HTTP status of a model or node error; its stable code is kept, except that lacking the
    ``approvable`` right (one an approver may lend the call) is 403 needs_approval
    (:mod:`meshpos.web.approval`)."""
    if isinstance(exc, HttpError):
        return exc
    if isinstance(exc, InvalidInput):
        return HttpError(400, exc.code, exc.message)
    if isinstance(exc, PermissionDenied):
        if exc.right and exc.right == approvable:  # a user holding it may approve it on the spot
            return HttpError(
                403,
                NEEDS_APPROVAL,
                f"{exc.message}: a user who may {exc.right.replace('_', ' ')} can approve it "
                f"with their PIN (right: {exc.right})",
            )
        return HttpError(403, exc.code, exc.message)
    if isinstance(exc, CONFLICTS):
        return HttpError(409, exc.code, exc.message)
    if isinstance(exc, DomainError):
        return HttpError(422, exc.code, exc.message)
    if isinstance(exc, CorruptRecord):
        log.error("corrupt record: %s", exc.message)
        return HttpError(500, exc.code, exc.message)
    if isinstance(exc, StoreError):
        return HttpError(503, exc.code, f"nothing was written: {exc.message}")
    return HttpError(503, exc.code, exc.message)  # e.g. the node is shutting down


class Api:
    def __init__(self, node: NodeAPI, token: str, page_token: str = "") -> None:
        """``page_token`` empty: the one derived from ``token`` (:func:`page_token_of`)."""
        self.node = node
        self.token = token
        self.page_token = page_token or page_token_of(token)
        self.sessions = Sessions(idle_s=node.session_idle_s)
        routes = (
            *system.ROUTES,
            *denylist.ROUTES,
            *menu.ROUTES,
            *orders.ROUTES,
            *shifts.ROUTES,
            *receipt_search.ROUTES,
            *days.ROUTES,
            *kitchen.ROUTES,
            *events.ROUTES,
            *pages.ROUTES,
            *metrics.ROUTES,
        )
        self.routes: tuple[Route, ...] = (  # every write takes an Idempotency-Key
            *(
                dataclasses.replace(
                    r,
                    keyed=r.writes and r.auth,
                    headers=(*r.headers, SESSION_PARAM) if r.writes and r.auth else r.headers,
                )
                for r in routes
            ),
            document_route(lambda: self.routes),
        )
        self.pins = PinGuard(node.pin_lockout_s, node.counters)
        self.keyed = idempotency.KeyedWrites()

    async def handle(self, request: Request) -> Response:
        route, params = match(self.routes, request)
        by_page = self._authorise(route, request)
        body, query = route.parse(request)
        session = request.headers.get(HEADER, "").strip()
        # (a page's write is checked when it runs: a retry of one already done, after a restart ended
        # its session, answers its first answer as any keyed retry does and writes nothing)
        key = idempotency.key_of(route, request)
        memory = self.node.request_keys() if key is not None else None
        if key is None or memory is None:
            return await self._handle(
                self.node, route, request, params, body, query, session, by_page
            )
        return await self.keyed.run(
            self.node,
            memory,
            key,
            idempotency.fingerprint(route, request, body),
            route.status,
            lambda node: self._handle(node, route, request, params, body, query, session, by_page),
        )

    async def _handle(
        self,
        node: NodeAPI,
        route: Route,
        request: Request,
        params: dict[str, str],
        body: dict[str, Any],
        query: dict[str, Any],
        session: str,
        by_page: bool,
    ) -> Response:
        if by_page and route.writes and route.page_writes != "anyone":
            check_page_write(
                self.sessions,
                session,
                body.get("user") if USER in route.body else None,
                route.page_writes == "kitchen",
                self._rights,
                self._is_user,
                route.page_right,
            )
        call = Call(
            node, request, params, body, query, self.page_token, self.pins, self.sessions, session
        )
        try:
            with node.holding_days():  # a day it opens stays open until it is done
                await call.load_closed_day()
                call.check_path()
                if USER in route.body:
                    self._known_user(body["user"])
                result = await route.handler(call)
        except MeshposError as exc:
            raise http_error(exc, call.approves) from None
        if isinstance(result, Response):
            return result
        made = idempotency.made_answer(node, result)  # (a keyed write's answer is made once)
        if made is not None:
            return Response(route.status, made)
        return Response.json(to_json(result), route.status)

    def _authorise(self, route: Route, request: Request) -> bool:
        """Whether the request came with the page token (True) or the API token (False); 401 with
        neither."""
        if not route.auth:
            return False
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header and route.content_type == "text/event-stream":
            scheme, token = "bearer", (request.query.get("token") or [""])[-1]
        if not token:
            raise HttpError(
                401, "missing_token", "send Authorization: Bearer <token from api.token>"
            )
        if scheme.lower() == "bearer" and same_token(token, self.token):
            return False
        if scheme.lower() == "bearer" and same_token(token, self.page_token):
            return True
        raise HttpError(401, "wrong_token", "the API token is wrong")

    def _rights(self, user: str) -> frozenset[str]:
        try:
            return frozenset(self.node.catalog().rights(user))
        except UnknownRecord:
            return frozenset()  # the write then answers 422 unknown_user

    def _is_user(self, user: str) -> bool:
        try:
            self.node.catalog().user(user)
        except UnknownRecord:
            return False
        return True

    def _known_user(self, user: str) -> None:
        if not self._is_user(user):
            raise HttpError(422, "unknown_user", f"unknown user {user!r}")


def make_handler(node: NodeAPI, token: str, page_token: str = "") -> Handler:
    return Api(node, token, page_token).handle
