"""The route table's building blocks: one ``Route`` declares a path, its fields and the type it returns, and the
same declaration validates requests, serialises answers and writes the OpenAPI document.

What a handler gets is the API's own: the node's ``meshpos.web.routes.Call``, the console's ``ConsoleCall``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args, get_origin

from meshpos.httpapi.schema import MONEY, MONEY_NOTE, Bounds, Refused, accept
from meshpos.httpapi.server import HttpError, Request, shown_name
from meshpos.model.documents import is_calendar_day

T = TypeVar("T")
_PARAM = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True, slots=True)
class Field:
    """A JSON body field or a query parameter. Its type and bounds are checked here, before any handler runs
    (400 ``bad_field`` naming the field), and published in the OpenAPI document; the model checks the rules
    that need data (422). Every integer needs ``minimum`` and ``maximum`` and every string ``max_chars``,
    taken from :mod:`meshpos.model.limits`: a route cannot declare an unbounded value."""

    name: str
    kind: Any
    doc: str = ""
    required: bool = True
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    max_chars: int | None = None
    # text only: a regular expression it must match; without one only control characters are refused
    pattern: str | None = None
    # text only: "" or a day of the calendar (the pattern takes 2026-02-31): else 422 bad_range, a
    # schema-valid value that breaks a rule, as the console says it
    calendar: bool = False

    @property
    def bounds(self) -> Bounds:
        return Bounds(self.minimum, self.maximum, self.max_chars, self.pattern)

    def check_declaration(self, where: str) -> None:
        leaves = _leaves(self.kind)
        if int in leaves and (self.minimum is None or self.maximum is None):
            raise TypeError(f"{where}: integer field {self.name!r} needs minimum and maximum")
        if str in leaves and self.max_chars is None:
            raise TypeError(f"{where}: text field {self.name!r} needs max_chars")


_WHOLE = re.compile(r"-?[0-9]{1,20}")  # longer is refused as text, not parsed at any length


def _leaves(kind: Any) -> set[Any]:
    """The scalar types inside a field's type (the ones bounds apply to); a Literal's words are not text."""
    if get_origin(kind) is Literal:
        return set()
    args = get_args(kind)
    if not args:
        return {kind}
    return set().union(*(_leaves(a) for a in args))


def opt(name: str, kind: Any, default: Any, doc: str = "", **bounds: Any) -> Field:
    return Field(name, kind, doc, required=False, default=default, **bounds)


def text(
    name: str,
    max_chars: int,
    doc: str = "",
    *,
    default: str | None = None,
    pattern: str | None = None,
) -> Field:
    """A text field: required, or optional with ``default``."""
    return Field(name, str, doc, default is None, default, max_chars=max_chars, pattern=pattern)


# The node's handlers take a web Call; the console's (meshpos.console.api) a ConsoleCall: one route type for both.
Handler = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # an OpenAPI path template: /api/orders/{order_id}
    handler: Handler
    summary: str
    returns: Any = None  # the answer's type (serialised by to_json); None for a raw Response
    body: tuple[Field, ...] = ()
    query: tuple[Field, ...] = ()
    auth: bool = True
    status: int = 200
    tag: str = "register"
    content_type: str = "application/json"
    other_types: tuple[str, ...] = ()  # further content types a successful answer may have
    description: str = ""
    operation: str = ""  # the OpenAPI operationId; default: the handler's name
    limited: bool = False  # answers 429 (with Retry-After) when its caller tries too often
    errors: tuple[
        int, ...
    ] = ()  # further error statuses it answers (an unknown id in its query: 404)
    keyed: bool = False  # takes an Idempotency-Key header (the node's writes: web/idempotency.py)
    headers: tuple[dict[str, Any], ...] = ()  # further request headers, as OpenAPI parameters
    #: who may write with the page token (web/sessions.py): "signed-in" (the body's user, by a PIN
    #: sign-in at the register), "kitchen" (also by a sign-in at the kitchen screen), "anyone"
    #: (signing in and out)
    page_writes: str = "signed-in"
    #: the right a page's signed-in user must hold for this write when the route names no acting user
    #: whose right the model checks (clear cache: web/system.py); "" for none
    page_right: str = ""
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = _PARAM.split(self.path)  # literal, name, literal, name, ...
        regex = "".join(
            f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts)
        )
        object.__setattr__(self, "pattern", re.compile(regex + "$"))
        for f in (*self.body, *self.query):
            f.check_declaration(f"{self.method} {self.path}")

    @property
    def operation_id(self) -> str:
        return self.operation or self.handler.__name__

    @property
    def path_params(self) -> list[str]:
        return _PARAM.findall(self.path)

    @property
    def writes(self) -> bool:
        return self.method in ("POST", "PUT", "DELETE")

    def parse(self, request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
        """The validated body and query: 400 for bad JSON, a missing, unknown or wrongly typed field."""
        body = _fields(self.body, request.json(), "field") if self.body else {}
        if not self.body and request.body.strip() not in (b"", b"{}"):
            raise HttpError(400, "unexpected_body", f"{self.method} {self.path} takes no body")
        twice = sorted(k for k, v in request.query.items() if len(v) > 1)
        if twice:  # which one counts would be the parser's choice: refused, like a body's field
            raise HttpError(
                400,
                "bad_field",
                f"query parameter {shown_name(twice[0])} is given {len(request.query[twice[0]])} "
                "times; give it once",
            )
        raw_query: dict[str, Any] = {k: v[-1] for k, v in request.query.items()}
        raw_query.pop("token", None)  # the event stream's credential, checked by the dispatcher
        for (
            f
        ) in self.query:  # a query is text: a whole number for an integer parameter is read as one
            value = raw_query.get(f.name)
            leaves = _leaves(f.kind) - {type(None)}  # an optional number (int | None) too
            if leaves == {int} and isinstance(value, str) and _WHOLE.fullmatch(value):
                raw_query[f.name] = int(value)
            elif value == "" and type(None) in _leaves(f.kind):  # a form's empty field: not given
                del raw_query[f.name]
        query = _fields(self.query, raw_query, "query parameter")
        for f in self.query:
            if f.calendar and query[f.name] and not is_calendar_day(query[f.name]):
                raise HttpError(
                    422,
                    "bad_range",
                    f"query parameter {f.name!r}: {query[f.name]} is not a day of the calendar",
                )
        return body, query


def match(routes: Sequence[Route], request: Request) -> tuple[Route, dict[str, str]]:
    """The route a request is for and its path parameters; 404 for an unknown path, 405 (with ``Allow``)
    for a known path and another method."""
    allowed = []
    for route in routes:
        found = route.pattern.match(request.path)
        if found is None:
            continue
        if route.method == request.method:
            return route, found.groupdict()
        allowed.append(route.method)
    if allowed:
        raise HttpError(
            405,
            "method_not_allowed",
            f"{request.path} takes {', '.join(allowed)}, not {request.method}",
            {"Allow": ", ".join(allowed)},
        )
    raise HttpError(404, "not_found", f"no such endpoint: {request.method} {request.path}")


def _fields(fields: tuple[Field, ...], raw: dict[str, Any], what: str) -> dict[str, Any]:
    known = {f.name for f in fields}
    unknown = sorted(set(raw) - known)
    if unknown:
        shown = ascii(unknown)
        shown = shown if len(shown) <= 200 else shown[:197] + "..."
        raise HttpError(
            400, "unknown_field", f"unknown {what}(s) {shown}; expected {sorted(known)}"
        )
    out: dict[str, Any] = {}
    for f in fields:
        if f.name not in raw:
            if f.required:
                raise HttpError(400, "missing_field", f"{what} {f.name!r} is required")
            out[f.name] = copy.copy(f.default)  # a list default is never shared between calls
            continue
        try:
            out[f.name] = accept(raw[f.name], f.kind, f.bounds)
        except Refused as exc:
            # "2.50" or 2.5 for a price: say how money is written, not only that it is no integer
            decimal = what == "field" and f.name in MONEY and _decimal(raw[f.name])  # (a body's)
            money = f" ({MONEY_NOTE})" if decimal else ""
            raise HttpError(400, "bad_field", f"{what} {f.name!r} {exc}{money}") from None
    return out


def _decimal(value: object) -> bool:
    """A number with a fraction, or text that reads as a number: what a person writes for money."""
    if isinstance(value, float):
        return not value.is_integer()
    if isinstance(value, str):
        try:
            float(value.replace(",", "."))
        except ValueError:
            return False
        return True
    return False


def choice(*values: str) -> Any:
    """A ``Literal`` of strings built at run time (a field that takes one of a few words)."""
    return Literal.__getitem__(values)
