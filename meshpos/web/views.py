"""Answers the API composes from several model reads: the register's catalog with its stop marks, a receipt
with its refunds, the kitchen board. Each is a dataclass, so its JSON and its schema come from one place.

Users are shown without their PIN hash: the API's token holder is trusted, but a hash has no use in a page.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshpos.model import (
    TICKET_TRANSITIONS,
    TICKET_VOID_TRANSITIONS,
    Discount,
    ModifierGroup,
    Receipt,
    Refund,
    Shift,
    StopEntry,
    Ticket,
    TicketItem,
)
from meshpos.model.refund_tenders import Tender
from meshpos.web.port import NodeAPI


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    node: str


@dataclass(frozen=True, slots=True)
class Done:
    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class StopView:
    """Who stopped (or released) an item and when."""

    product_id: str
    name: str
    stopped: bool
    user: str
    user_name: str
    device: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class ProductView:
    id: str
    name: str
    price: int
    category: str
    modifier_groups: tuple[str, ...]
    stopped: bool
    stop: StopView | None  # the deciding stop-list entry, if anyone ever stopped the item
    kitchen: str  # the kitchen station its tickets go to ("": the one kitchen)


@dataclass(frozen=True, slots=True)
class UserView:
    id: str
    name: str
    role: str
    rights: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CatalogView:
    """Everything a register's product grid needs, with stopped items marked."""

    currency: str
    receipt_header: str
    receipt_footer: str
    venue_name: str
    timezone: str  # IANA: the page shows moments on the venue's clock, whatever the device's zone
    categories: tuple[str, ...]
    products: tuple[ProductView, ...]
    modifier_groups: tuple[ModifierGroup, ...]
    discounts: tuple[Discount, ...]
    users: tuple[UserView, ...]


@dataclass(frozen=True, slots=True)
class LoginView:
    ok: bool
    user: UserView
    session: str  # send it as X-Meshpos-Session with the page token's writes (web/sessions.py)
    at: str  # "register" or "kitchen": a kitchen sign-in writes on the kitchen's routes only


@dataclass(frozen=True, slots=True)
class LogoutView:
    ended: bool


@dataclass(frozen=True, slots=True)
class SessionView:
    """Who a page's sign-in is, as the node holds it now (the kitchen's and the register's header)."""

    user: UserView
    at: str  # "register" or "kitchen"


@dataclass(frozen=True, slots=True)
class ShiftView:
    """This register's open shift (null when none) and the cash its drawer should hold."""

    shift: Shift | None
    expected_cash: int | None


@dataclass(frozen=True, slots=True)
class SentView:
    """The ticket made for the lines not yet sent, or null when every line was already sent."""

    ticket: Ticket | None


@dataclass(frozen=True, slots=True)
class ReceiptView:
    receipt: Receipt
    refunds: tuple[Refund, ...]
    refunded: dict[str, int]  # receipt line id -> quantity refunded so far
    # its tenders in the order paid, each {method, paid, refunded}: what a refund goes back by
    # (model.refund_tenders: cash never more than the cash it took less the cash given back)
    tenders: tuple[Tender, ...] = ()


@dataclass(frozen=True, slots=True)
class TicketView:
    id: str
    order_id: str
    table: str
    register: str
    created_at_ms: int
    age_ms: int
    items: tuple[TicketItem, ...]
    state: str
    state_at_ms: int
    actions: tuple[
        str, ...
    ]  # what bump/recall may do from this state (a void ticket: bump clears it)
    label: str  # "Table 5", "Tab Smith" or "Order #ab12cd": what the kitchen calls it
    waiter: str  # the name of who sent it ("" when not known)
    void: bool  # the order was voided: every screen shows it void
    held_by: tuple[str, ...]  # the kitchen screens that hold it
    lost: bool  # held by no screen KITCHEN_ACK_MS after it was sent: its register warns


@dataclass(frozen=True, slots=True)
class UnheldView:
    """The tickets this register sent that no kitchen screen holds yet; ``lost`` ones are late."""

    now_ms: int
    ack_ms: int
    tickets: tuple[TicketView, ...]


@dataclass(frozen=True, slots=True)
class KitchenView:
    """One business day's tickets, oldest first; ``now_ms`` is the node's clock for computing ages."""

    date: str
    now_ms: int
    tickets: tuple[TicketView, ...]


def stop_views(node: NodeAPI) -> dict[str, StopView]:
    """The deciding stop-list entry of every item anyone ever stopped, with names for people."""
    catalog = node.catalog()
    users = {u.id: u.name for u in catalog.users()}
    products = {p.id: p.name for p in catalog.products()}
    return {
        item: _stop_view(entry, products.get(item, item), users.get(entry.user, entry.user))
        for item, entry in node.stops().items()
    }


def stop_view(node: NodeAPI, entry: StopEntry) -> StopView:
    catalog = node.catalog()
    user = next((u.name for u in catalog.users() if u.id == entry.user), entry.user)
    return _stop_view(entry, catalog.product(entry.item).name, user)


def _stop_view(entry: StopEntry, name: str, user_name: str) -> StopView:
    return StopView(
        entry.item, name, entry.stopped, entry.user, user_name, entry.device, entry.at_ms
    )


def user_view(node: NodeAPI, user_id: str) -> UserView:
    catalog = node.catalog()
    user = catalog.user(user_id)
    rights = catalog.rights(user_id)
    return UserView(user.id, user.name, user.role, tuple(sorted(rights)))


def catalog_view(node: NodeAPI) -> CatalogView:
    catalog = node.catalog()
    stops = stop_views(node)
    products = [p for p in catalog.products() if p.active]
    groups = sorted({g for p in products for g in p.modifier_groups})
    settings = catalog.settings()
    # a product names its category by id; the grid shows the category's name, in the console's order
    # (an id with no category record is shown as it is)
    ordered = catalog.categories()
    names = {c.id: c.name for c in ordered}
    used = {names.get(p.category, p.category) for p in products}
    listed = [c.name for c in ordered if c.name in used]
    return CatalogView(
        currency=settings.currency,
        receipt_header=settings.receipt_header,
        receipt_footer=settings.receipt_footer,
        venue_name=settings.name,
        timezone=settings.timezone,
        categories=tuple(dict.fromkeys([*listed, *sorted(used - set(listed))])),
        products=tuple(
            ProductView(
                p.id,
                p.name,
                p.price,
                names.get(p.category, p.category),
                p.modifier_groups,
                p.id in stops and stops[p.id].stopped,
                stops.get(p.id),
                p.kitchen,
            )
            for p in products
        ),
        modifier_groups=tuple(catalog.modifier_group(g) for g in groups),
        discounts=tuple(node.discounts()),
        users=tuple(user_view(node, u.id) for u in catalog.users()),
    )


def ticket_view(ticket: Ticket, now_ms: int, waiter: str = "") -> TicketView:
    table = TICKET_VOID_TRANSITIONS if ticket.void else TICKET_TRANSITIONS
    actions = tuple(action for (state, action) in table if state == ticket.state)
    return TicketView(
        ticket.id,
        ticket.order_id,
        ticket.table,
        ticket.register,
        ticket.created_at_ms,
        ticket.age_ms(now_ms),
        ticket.items,
        ticket.state,
        ticket.state_at_ms,
        actions,
        ticket.label,
        waiter,
        ticket.void,
        ticket.held_by,
        ticket.lost(now_ms),
    )
