"""What the web layer needs from a node: the ``NodeAPI`` protocol (docs/architecture.md (Layers)).

The routes and the pages' event stream depend on this protocol only, never on ``meshpos.node``: the node
implements it, and so does the fake the web unit tests run against (both pass one contract test suite,
tests/web/test_node_api_contract.py). Reads are named for what a page shows; every write goes through the
one generic :meth:`NodeAPI.write`, so a new Venue operation needs a route and nothing else; and
:meth:`NodeAPI.changes` pushes what changed after each commit, so no page or stream polls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from meshpos.engine.changes import Subscription
from meshpos.model import Catalog, Discount, Order, Receipt, Refund, Shift, StopEntry, Ticket, Venue
from meshpos.model.ledger_types import NoSale
from meshpos.model.receipt_search import ReceiptFound, ReceiptQuery
from meshpos.model.refund_tenders import Tender
from meshpos.model.shift_report import ShiftReport
from meshpos.node_status import NodeStatus
from meshpos.ops.metrics import NodeMetrics

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BusinessDays:
    """The business days a node holds (docs/architecture.md (Documents)): ``today`` (where a sale goes
    now), the days ``loaded`` in memory, the days ``closed`` (in the store only, loaded on demand), and
    the days a manager ``ended`` early. **Changed** (issue 18, keep): the days ``dropped`` after
    ``keep_days`` (the console holds them; this register cannot open them again)."""

    today: str
    loaded: tuple[str, ...]
    closed: tuple[str, ...]
    ended: tuple[str, ...]
    dropped: tuple[str, ...] = ()


class KeyMemory(Protocol):
    """The node's memory of ``Idempotency-Key`` requests (``meshpos.register.request_keys``)."""

    def find(self, key: str) -> tuple[str, str] | None: ...

    def name(self, key: str, today: str) -> str: ...

    def pending(self, name: str) -> bool: ...

    async def answer(self, name: str) -> tuple[int, bytes] | None: ...

    def hold(self, name: str, fingerprint: str, status: int, body: bytes) -> None: ...

    async def expire(self, today: str) -> None: ...


class NodeAPI(Protocol):
    """One device of the venue as its local HTTP API and pages see it."""

    # --- who this node is ---------------------------------------------------------------------------
    @property
    def node_id(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def venue_id(self) -> str:
        """The venue of this node's certificate (a revocation must be signed by its authority)."""
        ...

    @property
    def pin_lockout_s(self) -> float:
        """How long the first PIN lock lasts (the node's setting)."""
        ...

    @property
    def session_idle_s(self) -> float:
        """How long a PIN sign-in on the page lasts unused (the node's setting)."""
        ...

    @property
    def counters(self) -> Counter[str]:
        """The node's counters (shown in its status); the PIN guard counts its refusals here."""
        ...

    @property
    def metrics(self) -> NodeMetrics:
        """Its Prometheus metrics (``GET /metrics``): the commit latency it measures, and the
        status read at each scrape."""
        ...

    def now_ms(self) -> int: ...

    # --- reads: what the pages show (an unknown id raises UnknownRecord) -----------------------------
    def catalog(self) -> Catalog: ...

    def discounts(self) -> list[Discount]: ...

    def stops(self) -> dict[str, StopEntry]:
        """The deciding stop-list entry of every item anyone ever stopped, by product id."""
        ...

    def orders(self) -> list[Order]:
        """Orders of the loaded business days, every status, from every register."""
        ...

    def order(self, order_id: str) -> Order: ...

    def open_orders(self) -> list[Order]:
        """Open orders of the loaded business days, from every register, from an index kept up to date
        as changes arrive (no closed order is read)."""
        ...

    def receipts(self, date: str, limit: int, before: str | None = None) -> list[Receipt]:
        """Up to ``limit`` receipts of business day ``date``, newest first, older than receipt
        ``before`` when given (UnknownRecord if that receipt is not on the day); none for a day not
        loaded."""
        ...

    def receipt(self, receipt_id: str) -> Receipt: ...

    def refunds(self, receipt_id: str) -> list[Refund]: ...

    def refunded_quantities(self, receipt_id: str) -> dict[str, int]: ...

    def tenders(self, receipt_id: str) -> tuple[Tender, ...]:
        """The receipt's tenders in the order paid: what each paid and gave back (the refund rule,
        ``model.refund_tenders``)."""
        ...

    def current_shift(self) -> Shift | None:
        """This register's open shift, if any."""
        ...

    def expected_cash(self, shift: Shift) -> int: ...

    def shift(self, shift_id: str) -> Shift:
        """Any register's shift on a loaded day, or an open one kept of a closed day
        (``model/kept_shifts.py``); UnknownRecord for one neither holds."""
        ...

    def shift_report(self, shift_id: str) -> ShiftReport:
        """A shift's X (open) or Z (closed) report from the loaded days, its expected cash hidden
        while open under the venue's blind count (UnknownRecord for a shift no loaded day holds)."""
        ...

    def kept_part(self, shift_id: str, date: str) -> bool:
        """Is the shift's part of closed day ``date`` kept and true (``model/kept_parts.py``)? Its
        report then adds that part without loading the day."""
        ...

    def no_sales(self, date: str) -> list[NoSale]:
        """One loaded business day's "no sale" drawer openings, oldest first (none for a day not
        loaded)."""
        ...

    def search_receipts(self, date: str, query: ReceiptQuery, limit: int) -> list[ReceiptFound]:
        """Up to ``limit`` receipts of loaded business day ``date`` matching ``query``, newest first."""
        ...

    def business_date(self, now_ms: int) -> str: ...

    def tickets(self, date: str, states: Sequence[str]) -> list[Ticket]:
        """One business day's kitchen tickets in these states, oldest first; none for a day not loaded."""
        ...

    def tickets_being_made(self, before: str, states: Sequence[str], now_ms: int) -> list[Ticket]:
        """The tickets not served yet (of these states) of the last loaded day before ``before``, if
        its cut-off passed less than ``BEING_MADE_MS`` before ``now_ms``: food still being made when
        its business day ended (at its cut-off, or early)."""
        ...

    def ticket(self, ticket_id: str) -> Ticket: ...

    def status(self) -> NodeStatus: ...

    def days(self) -> BusinessDays: ...

    def holding_days(self) -> AbstractContextManager[None]:
        """Within: the closed days this request opens (and the loaded ones it reads through
        :meth:`open_day`) do not close again until it is done."""
        ...

    async def open_day_of(self, key: str) -> bool:
        """Load the closed business day holding receipt ``key`` (its id or number), if one does: what
        a refund or reprint of an old receipt does first. True if a day was loaded."""
        ...

    async def load_shift_day(self) -> None:
        """Load the closed day this register's open shift opened on (``model/kept_shifts.py``), if
        it is closed: before a write that goes there (its close, a Z, a cash move, a "no sale")."""
        ...

    async def open_day(self, date: str, *, kitchen: bool = False) -> bool:
        """Load business day ``date``'s ledger (its kitchen tickets with ``kitchen``) if it is closed:
        a read of its receipts or tickets. It closes again by the usual rule. True if it was closed."""
        ...

    def revocations(self) -> list[dict[str, str | int]]: ...

    def is_revoked(self, device_id: str) -> bool: ...

    # --- writes: each returns once its change is committed -------------------------------------------
    async def write(self, change: Callable[[Venue, int], T], *, wait: bool = False) -> T:
        """Run ``change(venue, now_ms)`` once and return its result once committed (and published on
        :meth:`changes`). A change that raises is taken back by the model; a MeshposError comes back as
        it is, anything else as WriteFailed. ``wait``: its update may leave a moment later, with the
        sale's next tap (``register.operations``)."""
        ...

    def request_keys(self) -> KeyMemory | None:
        """Where keyed writes' answers are kept (None: the header is not honoured)."""
        ...

    async def revoke(self, entry: Mapping[str, Any]) -> None: ...

    async def clear_cache(self) -> list[str]: ...

    # --- the change stream ---------------------------------------------------------------------------
    def changes(self) -> Subscription:
        """Committed document changes and status changes, pushed (close the subscription when done)."""
        ...
