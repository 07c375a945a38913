"""The route table's building blocks: one ``Route`` declares a path, its fields and the type it returns, and the
same declaration validates requests, serialises answers and writes the OpenAPI document.

Handlers get a ``Call``: the node, the validated body and query, and finders that turn an unknown id in the
path into 404 (an unknown id in the body is the caller's data error and comes back from the model as 422).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from meshpos.errors import UnknownRecord
from meshpos.model import Kitchen, Line, Order, Product, Receipt
from meshpos.web.http import HttpError, Request
from meshpos.web.schema import conforms, type_name

if TYPE_CHECKING:
    from meshpos.node import Node

T = TypeVar("T")
_PARAM = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True, slots=True)
class Field:
    """A JSON body field or a query parameter. Only types are checked here; the model checks values."""

    name: str
    kind: Any
    doc: str = ""
    required: bool = True
    default: Any = None


def opt(name: str, kind: Any, default: Any, doc: str = "") -> Field:
    return Field(name, kind, doc, required=False, default=default)


USER = Field("user", str, "id of the user doing this (the register app logs its cashier in by PIN)")


@dataclass(slots=True)
class Call:
    node: Node
    request: Request
    params: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    token: str = ""  # the API token, for pages that embed it

    def check_path(self) -> None:
        """404 for an unknown id in the path, before anything else is looked at."""
        for name in self.params:
            finder = _FINDERS.get(name)
            if finder is not None:
                finder(self)

    def order(self) -> Order:
        return _found("order", lambda: self.node.venue.order(self.params["order_id"]))

    def line(self) -> Line:
        line_id = self.params["line_id"]
        order = self.order()
        for line in order.lines:
            if line.id == line_id:
                return line
        raise HttpError(404, "unknown_line", f"order {order.id} has no line {line_id!r}")

    def receipt(self) -> Receipt:
        return _found("receipt", lambda: self.node.venue.receipt(self.params["receipt_id"]))

    def product(self) -> Product:
        return _found("product", lambda: self.node.venue.catalog.product(self.params["product_id"]))

    def kitchen_of_ticket(self) -> Kitchen:
        ticket_id = self.params["ticket_id"]
        for name in self.node.replica.names():
            if name.startswith("kitchen/"):
                kitchen = self.node.venue.kitchen(name.removeprefix("kitchen/"))
                if kitchen.has(ticket_id):
                    return kitchen
        raise HttpError(404, "unknown_ticket", f"unknown kitchen ticket {ticket_id!r}")


_FINDERS: dict[str, Callable[[Call], object]] = {
    "order_id": Call.order,
    "line_id": Call.line,
    "receipt_id": Call.receipt,
    "product_id": Call.product,
    "ticket_id": Call.kitchen_of_ticket,
}


def _found(what: str, find: Callable[[], T]) -> T:
    try:
        return find()
    except UnknownRecord as exc:
        raise HttpError(404, f"unknown_{what}", exc.message) from None


Handler = Callable[[Call], Awaitable[Any]]


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
    description: str = ""
    operation: str = ""  # the OpenAPI operationId; default: the handler's name
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = _PARAM.split(self.path)  # literal, name, literal, name, ...
        regex = "".join(
            f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts)
        )
        object.__setattr__(self, "pattern", re.compile(regex + "$"))

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
        raw_query = {k: v[-1] for k, v in request.query.items()}
        raw_query.pop("token", None)  # the event stream's credential, checked by the dispatcher
        return body, _fields(self.query, raw_query, "query parameter")


def _fields(fields: tuple[Field, ...], raw: dict[str, Any], what: str) -> dict[str, Any]:
    known = {f.name for f in fields}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise HttpError(
            400, "unknown_field", f"unknown {what}(s) {unknown}; expected {sorted(known)}"
        )
    out: dict[str, Any] = {}
    for f in fields:
        if f.name not in raw or (raw[f.name] is None and not f.required):
            if f.required:
                raise HttpError(400, "missing_field", f"{what} {f.name!r} is required")
            out[f.name] = copy.copy(f.default)  # a list default is never shared between calls
        elif conforms(raw[f.name], f.kind):
            out[f.name] = raw[f.name]
        else:
            raise HttpError(
                400,
                "bad_field",
                f"{what} {f.name!r} must be {_article(type_name(f.kind))}, got {raw[f.name]!r}",
            )
    return out


def _article(name: str) -> str:
    if name.startswith(("one of", "list", "object")):
        return name
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def choice(*values: str) -> Any:
    """A ``Literal`` of strings built at run time (a field that takes one of a few words)."""
    return Literal.__getitem__(values)
