"""What the node's handlers get: a ``Call`` with the node (a ``NodeAPI``), the validated body and query, and
finders that turn an unknown id in the path into 404 (an unknown id in the body is the caller's data error and
comes back from the model as 422). The route table itself is ``meshpos.httpapi.routes``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from meshpos.errors import UnknownRecord
from meshpos.httpapi.routes import Field
from meshpos.httpapi.server import HttpError, Request
from meshpos.model import Line, Order, Product, Receipt, Ticket
from meshpos.model.documents import DAY_PATTERN
from meshpos.model.limits import MAX_ID_CHARS, text_problem
from meshpos.web.pins import PinGuard
from meshpos.web.port import NodeAPI
from meshpos.web.sessions import Sessions

T = TypeVar("T")


USER = Field(
    "user",
    str,
    "id of the user doing this, from GET /api/catalog (the register app logs its cashier in by PIN); "
    "an id the catalog does not hold is 422 unknown_user",
    max_chars=MAX_ID_CHARS,
)


def day_query(doc: str) -> Field:
    """The ``?date=`` of a read of one business day (empty: today's)."""
    return Field(
        "date",
        str,
        doc,
        required=False,
        default="",
        max_chars=MAX_ID_CHARS,
        pattern=f"^({DAY_PATTERN})?$",
        calendar=True,  # the 31st of February answered 200 [], "no receipts that day"
    )


@dataclass(slots=True)
class Call:
    node: NodeAPI
    request: Request
    params: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    token: str = ""  # the page token, for pages that embed it (web/sessions.py)
    pins: PinGuard | None = None  # the node's PIN-guessing limits, for whatever checks a PIN
    sessions: Sessions | None = None  # the node's sign-ins (web/sessions.py)
    session: str = ""  # this request's X-Meshpos-Session
    approves: str = ""  # the right an approver may lend this call (web/approval.py), once asked

    def check_path(self) -> None:
        """404 for an unknown id in the path, before anything else is looked at; an id no record can
        have (too long, control characters, lone surrogates: limits.text_problem) is unknown too."""
        for name, value in self.params.items():
            problem = text_problem(value, MAX_ID_CHARS)
            if problem is not None:
                raise HttpError(404, "not_found", f"no record has that {name}: it {problem}")
        for name in self.params:
            finder = _FINDERS.get(name)
            if finder is not None:
                finder(self)

    async def load_closed_day(self) -> None:
        """A receipt in the path that no loaded day holds may be on a closed business day: load that
        day first (docs/architecture.md (Documents)); it closes again by the usual rule."""
        receipt_id = self.params.get("receipt_id")
        if receipt_id is None or text_problem(receipt_id, MAX_ID_CHARS) is not None:
            return
        try:
            self.node.receipt(receipt_id)
        except UnknownRecord:
            if await self.node.open_day_of(receipt_id):
                return
            dropped = self.node.days().dropped
            if dropped:  # **changed** (issue 18, keep): an old one may be at the console only
                raise HttpError(
                    404,
                    "unknown_receipt",
                    f"no receipt {receipt_id!r} on this register, which keeps the recent business "
                    f"days only (keep_days; it dropped {len(dropped)}, the latest {dropped[-1]}): "
                    "a receipt of an older day is at the console (its receipts and reports)",
                ) from None

    def order(self) -> Order:
        return _found("order", lambda: self.node.order(self.params["order_id"]))

    def line(self) -> Line:
        line_id = self.params["line_id"]
        order = self.order()
        for line in order.lines:
            if line.id == line_id:
                return line
        raise HttpError(404, "unknown_line", f"order {order.id} has no line {line_id!r}")

    def receipt(self) -> Receipt:
        return _found("receipt", lambda: self.node.receipt(self.params["receipt_id"]))

    def product(self) -> Product:
        return _found("product", lambda: self.node.catalog().product(self.params["product_id"]))

    def ticket(self) -> Ticket:
        return _found("ticket", lambda: self.node.ticket(self.params["ticket_id"]))


_FINDERS: dict[str, Callable[[Call], object]] = {
    "order_id": Call.order,
    "line_id": Call.line,
    "receipt_id": Call.receipt,
    "product_id": Call.product,
    "ticket_id": Call.ticket,
}


def _found(what: str, find: Callable[[], T]) -> T:
    try:
        return find()
    except UnknownRecord as exc:
        raise HttpError(404, f"unknown_{what}", exc.message) from None
