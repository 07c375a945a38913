"""The OpenAPI 3.1 document, generated from the route table: a route cannot exist undocumented."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from meshpos.httpapi.routes import Route
from meshpos.httpapi.schema import MONEY_NOTE, NO_CONTROL, Schemas
from meshpos.model.limits import MAX_ID_CHARS


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    code: str  # stable: clients branch on it
    message: str  # for people


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """Every error answer."""

    error: ErrorDetail


def api_version() -> str:
    """The version the OpenAPI documents publish: the installed package's."""
    try:
        return version("meshpos")
    except PackageNotFoundError:
        return "0"


# an id in a path: what a record's key can be (limits.text_problem); anything else is 404 not_found
PATH_ID: dict[str, Any] = {"type": "string", "maxLength": MAX_ID_CHARS, "pattern": NO_CONTROL}

ERRORS = {
    400: "Bad JSON, or a missing, unknown or wrongly typed field (bad_json, missing_field, "
    "unknown_field, bad_field, unexpected_body, bad_request, bad_idempotency_key; an "
    "X-Meshpos-Session that is no session's shape: bad_session)",
    401: "No token (missing_token) or a wrong one (wrong_token); a write with the page's token "
    "without a sign-in (session_required) or with one that ended (session_ended)",
    403: "Not allowed: a kitchen screen writing money records or a user without the right "
    "(permission_denied); a write with the page's token naming another user than the "
    "signed-in one (user_mismatch), or made with a kitchen sign-in off the kitchen's routes "
    "(kitchen_sign_in)",
    413: "The request body is over 256 KiB (too_large)",
    404: "An id in the path is unknown (unknown_order, unknown_receipt, unknown_line, "
    "unknown_ticket, unknown_product, unknown_file)",
    409: "The request is valid but the current state refuses it (item_stopped, order_not_open, "
    "table_taken, "
    "shift_closed, shift_error, open_orders_on_shift, overpayment, over_refund, "
    "invalid_transition, clear_cache_refused, receipt_numbers_unknown, day_dropped; a write whose "
    "Idempotency-Key is not yet durable: idempotency_key_in_progress, Retry-After: 1; one whose "
    "kept answer cannot be read: idempotency_key_used)",
    422: "A value breaks a rule (invalid_quantity, invalid_amount, unknown_product, unknown_record, "
    "order_full, "
    "unknown_user, domain_error, idempotency_key_reused; revocations: wrong_venue, "
    "invalid_device_id, revocation_refused; a `date` not on the calendar: bad_range)",
    429: "Too many tries: PIN login is locked for this user or this address (pin_locked); "
    "Retry-After says for how many seconds",
    503: "The node cannot write now (store_error) or is shutting down, or it is at its limit of "
    "open connections (busy; Retry-After: 1)",
}

# the node's writes (meshpos.web.idempotency, whose docstring says the rules)
IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "A key the app makes for this one action (a uuid per tap), at most 255 visible ASCII "
        "characters. Sent again with the same request, the write is done at most once and the "
        "first answer comes back (header Idempotent-Replayed: true), across a restart of the node "
        "too; a request still running with the key is waited for; the key with another request is "
        "422 idempotency_key_reused, changing nothing. A refused request keeps no key. Keys are "
        "kept for their business day and the next."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds until the lock ends",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}

INTRO = f"""\
The local API of one meshpos node (register or kitchen screen), on 127.0.0.1.

* **Money** is always an integer number of **minor units** (cents): {MONEY_NOTE}.
* **Bounds**: every integer and text field of a request has the bounds shown here (`minimum`, `maximum`,
  `maxLength`, `pattern`: no control characters); anything outside them is 400 `bad_field` naming the field
  and changes nothing. An integer may be sent as a number with a zero fraction (`2.0` is `2`, as JSON
  Schema counts integers). An empty query value (`?status=`) is a value, not an absent parameter; a
  parameter given twice is 400 `bad_field`; a `date` that is not a day of the calendar is 422 `bad_range`. A body
  is sent whole with one `Content-Length` of plain digits: `Transfer-Encoding` (chunked) is 411
  `length_required`, and the handler never runs.
* **Authentication**: `Authorization: Bearer <token>`. The API token (`<data_dir>/api.token`) is full
  trust: its app authenticates its users itself. Pages served to a loopback browser embed the page
  token (derived from the API token: HMAC-SHA256) instead: it reads as the API token does, but each of its writes
  carries `X-Meshpos-Session`, the session `POST /api/login` answers after the user's PIN, and names
  that session's user; a kitchen screen signs its cook in with `at: kitchen`, a sign-in that writes
  the kitchen's moves only (403 `kitchen_sign_in` elsewhere; docs/api.md).
* **Users**: every write names the acting user in the body (`user`); rights come from the catalog.
  `POST /api/login` checks a user's PIN and answers a session (`POST /api/logout` ends it).
* **Acknowledged means durable**: a 2xx answer to a write is sent after the change is committed to the
  node's SQLite file.
* **Errors**: `{{"error": {{"code", "message"}}}}`. Clients branch on `code`, which is stable;
  `message` is for people. Unknown routes are 404 `not_found`; a known route with another method is
  405 `method_not_allowed` with an `Allow` header.
"""


def document(
    routes: Sequence[Route],
    version: str,
    *,
    title: str = "meshpos node API",
    intro: str = INTRO,
    errors: Mapping[int, str] = ERRORS,
) -> dict[str, Any]:
    """The document of a route table; the console's API (meshpos.console.api) passes its own title,
    introduction and error texts."""
    schemas = Schemas()
    error = schemas.of(ErrorBody)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas, errors)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": intro},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "query_token": {"type": "apiKey", "in": "query", "name": "token"},
            },
            "schemas": schemas.components,
            "responses": {
                str(code): {
                    "description": text,
                    "content": {"application/json": {"schema": error}},
                    **({"headers": RETRY_AFTER} if code == 429 else {}),
                }
                for code, text in errors.items()
            },
        },
    }


def _operation(route: Route, schemas: Schemas, errors: Mapping[int, str]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
    }
    if route.description:
        op["description"] = route.description
    if not route.auth:
        op["security"] = []
    elif route.content_type == "text/event-stream":
        op["security"] = [{"bearer": []}, {"query_token": []}]
    params = [
        {"name": name, "in": "path", "required": True, "schema": PATH_ID}
        for name in route.path_params
    ]
    params += [
        {
            "name": f.name,
            "in": "query",
            "required": f.required,
            "description": f.doc,
            "schema": schemas.of(f.kind, f.bounds),
        }
        for f in route.query
    ]
    if route.keyed:
        params.append(IDEMPOTENCY_KEY)
    params += route.headers
    if params:
        op["parameters"] = params
    if route.body:
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            f.name: schemas.field(f.name, f.kind, f.doc, f.bounds)
                            for f in route.body
                        },
                        "required": [f.name for f in route.body if f.required],
                        "additionalProperties": False,
                    }
                }
            },
        }
    answer: dict[str, Any] = {"description": route.summary}
    if route.returns is not None:
        answer["content"] = {route.content_type: {"schema": schemas.of(route.returns)}}
        for kind in route.other_types:  # the same answer in another form (a report as CSV)
            answer["content"][kind] = {"schema": {"type": "string"}}
    else:
        types = (route.content_type, *route.other_types)
        answer["content"] = {kind: {"schema": {"type": "string"}} for kind in types}
    op["responses"] = {str(route.status): answer}
    for code in _errors(route, errors):
        op["responses"][str(code)] = {"$ref": f"#/components/responses/{code}"}
    return op


def _errors(route: Route, documented: Mapping[int, str]) -> list[int]:
    codes = [400]  # a body where none belongs, or a malformed request, is possible anywhere
    if route.body:
        codes.append(413)
    if route.auth:
        codes.append(401)
    if route.path_params:
        codes.append(404)
    if route.writes:
        codes += [403, 409, 422, 503]
    if route.limited:
        codes.append(429)
    if any(f.calendar for f in route.query):
        codes.append(422)  # bad_range: a date the pattern takes that is not on the calendar
    codes += route.errors
    return sorted(set(codes) & set(documented))


def document_route(
    routes: Callable[[], Sequence[Route]],
    *,
    title: str = "meshpos node API",
    intro: str = INTRO,
    errors: Mapping[int, str] = ERRORS,
) -> Route:
    """``GET /api/openapi.json``: the document of ``routes()`` (the table this route is served with,
    itself included), open to anyone (a client reads it before it has a token). The node's and the
    console's APIs both publish theirs through this one route, so the document always comes from the
    table that validates requests; it is built on the first request and kept (the table is fixed)."""
    built: list[dict[str, Any]] = []

    async def serve(call: object) -> dict[str, Any]:
        if not built:
            built.append(document(routes(), api_version(), title=title, intro=intro, errors=errors))
        return built[0]

    return Route(
        "GET",
        "/api/openapi.json",
        serve,
        "This document",
        dict[str, Any],
        auth=False,
        tag="system",
    )
