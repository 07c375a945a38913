"""The venue's domain model over pycrdt documents: no I/O, no clocks, integer money.

``Venue`` checks every rule and writes; ``Catalog``, ``StopList``, ``Ledger`` and ``Kitchen`` give typed reads
of their documents; ``Replica`` holds the named documents and captures the updates the store must persist.
"""

from meshpos.model._records import CorruptEntry, CorruptRegistry
from meshpos.model.catalog import (
    RIGHTS,
    Catalog,
    Category,
    Discount,
    Modifier,
    ModifierGroup,
    Product,
    Role,
    Settings,
    Tax,
    User,
    hash_pin,
    verify_pin,
)
from meshpos.model.clock import HybridClock, Stamp
from meshpos.model.documents import valid_document_name
from meshpos.model.kitchen import KITCHEN_ACK_MS, Kitchen, Ticket, TicketItem
from meshpos.model.kitchen import STATES as TICKET_STATES
from meshpos.model.kitchen import TRANSITIONS as TICKET_TRANSITIONS
from meshpos.model.kitchen import VOID_TRANSITIONS as TICKET_VOID_TRANSITIONS
from meshpos.model.ledger import Ledger
from meshpos.model.ledger_types import (
    CashMove,
    Conflict,
    InventoryMove,
    Line,
    LineModifier,
    Order,
    Payment,
    Receipt,
    ReceiptLine,
    Refund,
    RefundLine,
    Shift,
    ShiftClose,
)
from meshpos.model.money import currency_digits, format_money
from meshpos.model.replica import (
    CapturedUpdate,
    Replica,
    decode_state_vector,
    encode_state_vector,
    new_client_id,
)
from meshpos.model.roles import NODE_ROLES, ROLES
from meshpos.model.stoplist import StopEntry, StopList
from meshpos.model.totals import LineAmount, OrderTotals
from meshpos.model.venue import DayEnded, PaymentResult, Venue, business_date

__all__ = [
    "KITCHEN_ACK_MS",
    "NODE_ROLES",
    "RIGHTS",
    "ROLES",
    "TICKET_STATES",
    "TICKET_TRANSITIONS",
    "TICKET_VOID_TRANSITIONS",
    "CapturedUpdate",
    "CashMove",
    "Catalog",
    "Category",
    "Conflict",
    "CorruptEntry",
    "CorruptRegistry",
    "DayEnded",
    "Discount",
    "HybridClock",
    "InventoryMove",
    "Kitchen",
    "Ledger",
    "Line",
    "LineAmount",
    "LineModifier",
    "Modifier",
    "ModifierGroup",
    "Order",
    "OrderTotals",
    "Payment",
    "PaymentResult",
    "Product",
    "Receipt",
    "ReceiptLine",
    "Refund",
    "RefundLine",
    "Replica",
    "Role",
    "Settings",
    "Shift",
    "ShiftClose",
    "Stamp",
    "StopEntry",
    "StopList",
    "Tax",
    "Ticket",
    "TicketItem",
    "User",
    "Venue",
    "business_date",
    "currency_digits",
    "decode_state_vector",
    "encode_state_vector",
    "format_money",
    "hash_pin",
    "new_client_id",
    "valid_document_name",
    "verify_pin",
]
