"""One root exception for everything meshpos raises on purpose.

Each error carries a stable ``code`` (for JSON APIs and exit codes) and a human message that says what was
wrong and where. Errors caused by a peer are told apart from our own misuse (the h11 convention):
``RemoteProtocolError`` means the other side broke the rules, ``LocalProtocolError`` means we did.
"""

from __future__ import annotations


class MeshposError(Exception):
    """Root of every error meshpos raises deliberately."""

    code = "meshpos_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(MeshposError):
    code = "invalid_config"


# --- domain rules -------------------------------------------------------------------------------


class DomainError(MeshposError):
    """A sale, payment, refund or shift action broke a business rule; nothing was written."""

    code = "domain_error"


class InvalidInput(DomainError):
    """A value a person, an app or a peer supplied cannot be stored (bad text, out of bounds, wrong type)."""

    code = "invalid_input"


class BadCsv(DomainError):
    """A menu file that does not parse: the message names the line and the column; nothing was imported.
    (A DomainError, not InvalidInput: the request itself was well-formed JSON, its file is what is wrong.)"""

    code = "bad_csv"


class UnknownRecord(DomainError):
    code = "unknown_record"


class UnknownProduct(UnknownRecord):
    code = "unknown_product"


class ItemStopped(DomainError):
    code = "item_stopped"


class InvalidQuantity(DomainError):
    code = "invalid_quantity"


class OrderFull(DomainError):
    """An order holds as many lines as one may (``limits.MAX_ORDER_LINES``); a repeat is a line's
    quantity, and a bigger party is split into bills."""

    code = "order_full"


class InvalidAmount(DomainError):
    code = "invalid_amount"


class Overpayment(DomainError):
    code = "overpayment"


class OverRefund(DomainError):
    code = "over_refund"


class OrderNotOpen(DomainError):
    code = "order_not_open"


class ShiftError(DomainError):
    code = "shift_error"


class ShiftClosed(ShiftError):
    code = "shift_closed"


class OpenOrdersOnShift(ShiftError):
    code = "open_orders_on_shift"


class DayStillOpen(DomainError):
    """A business day cannot end: shifts or orders of it are still open (the message names them)."""

    code = "day_still_open"


class PermissionDenied(DomainError):
    """``right`` names the right the user lacks, when another user holding it could approve the action
    on the spot (docs/architecture.md (Engine)); empty when no approval can help (a kitchen device)."""

    code = "permission_denied"

    def __init__(self, message: str, right: str = "") -> None:
        super().__init__(message)
        self.right = right


class ReceiptNumbersUnknown(DomainError):
    """A register with a new database does not know how far its receipt numbers got: issuing one could
    repeat a number it issued before it was wiped, re-enrolled or restored."""

    code = "receipt_numbers_unknown"


class InvalidTransition(DomainError):
    code = "invalid_transition"


class TicketMoved(InvalidTransition):
    """A kitchen move sent ``from`` a state the ticket has left: the screen showed it as it was before a
    move made on this device a moment ago (a double tap, a second tab, a second monitor of one kitchen
    display). Moves from other devices are settled by the model (a move counts from the state it was
    made in); a move made here from where the ticket is now would count, and a double tap on "Start
    cooking" told the waiter "Ready" (outside, the twenty-first session)."""

    code = "ticket_moved"


class CorruptRecord(MeshposError):
    """A record in a document does not have the shape the model expects (a peer or a bug wrote it)."""

    code = "corrupt_record"


class RecordUnusable(DomainError, CorruptRecord):
    """A record asked for by id, or needed by an action, is corrupt: listing reads skip it and list it as
    corrupt, and this request is refused like a broken rule (nothing was written), not as a crash."""

    code = "record_unusable"


class WriteFailed(MeshposError):
    """A write into a document failed part-way (pycrdt raised); what it had written was taken back."""

    code = "write_failed"


class DayClosed(MeshposError):
    """A business day's documents are closed (unloaded, kept in the store): whoever needs them opens
    the day first (``Engine.open_day``); nothing ever writes an empty document over a closed day."""

    code = "day_closed"

    def __init__(self, doc: str, day: str) -> None:
        super().__init__(f"business day {day} is closed; open it first ({doc})")
        self.doc = doc


class DayDropped(MeshposError):
    """A business day this register let go of after its retention (``keep_days``): the console, the
    venue's system of record, holds it whole; this register cannot open it again."""

    code = "day_dropped"

    def __init__(self, doc: str, day: str) -> None:
        super().__init__(
            f"business day {day} is no longer on this register: it keeps only recent business days "
            f"(keep_days) and {day} went once the console held all of it; look it up at the "
            f"console (manager reports, receipts of {day}) ({doc})"
        )
        self.doc = doc
        self.day = day


# --- storage ------------------------------------------------------------------------------------


class StoreError(MeshposError):
    code = "store_error"


class SchemaTooNew(StoreError):
    code = "schema_too_new"


class CorruptDatabase(StoreError):
    code = "corrupt_database"


class StoreClosed(StoreError):
    code = "store_closed"


class StoreLocked(StoreError):
    """Another process holds the database (a data dir is used by one process at a time)."""

    code = "store_locked"


class StaleWrite(StoreError):
    """A console process wrote rows from a document older than the database holds (another process
    committed more of it since): refused whole, so a stale process never rolls a row back."""

    code = "stale_write"


class MissingDatabase(StoreError):
    """The database is missing or empty where one existed; only an explicit initialisation starts afresh."""

    code = "missing_database"


# --- protocol -----------------------------------------------------------------------------------


class ProtocolError(MeshposError):
    code = "protocol_error"


class LocalProtocolError(ProtocolError):
    """We tried to do something the protocol does not allow in the current state (a bug on our side)."""

    code = "local_protocol_error"


class RemoteProtocolError(ProtocolError):
    """The peer sent something malformed, oversized or out of order; the connection should close."""

    code = "remote_protocol_error"


class PeerTimeout(RemoteProtocolError):
    """The peer went silent (no hello, or nothing for the idle timeout): a lost link, not bad input."""

    code = "peer_timeout"


class PeerAbusive(RemoteProtocolError):
    """The peer spent its budget (messages, heartbeats, awareness or repeated sync step 1s per second):
    a device that costs a node more than any honest one could is disconnected, counted and logged once."""

    code = "peer_abusive"


# --- trust (venue CA, enrollment, certificates) -------------------------------------------------


class TrustError(MeshposError):
    """The venue CA, a device identity or a certificate is missing, corrupt or not acceptable."""

    code = "trust"


class EnrollmentRefused(TrustError):
    """A pairing attempt did not produce a certificate; nothing was saved."""

    code = "enrollment_refused"


class PairingCodeInvalid(EnrollmentRefused):
    code = "pairing_code_invalid"


class PairingCodeExpired(PairingCodeInvalid):
    code = "pairing_code_expired"


class CertificateRefused(TrustError):
    """A peer's certificate lacks the venue/role fields we require or does not match them."""

    code = "certificate_refused"


class DeviceRevoked(CertificateRefused):
    code = "device_revoked"


class ClearCacheRefused(MeshposError):
    """Clear cache was asked while something local is not at the console, or without a path to it."""

    code = "clear_cache_refused"


class TableTaken(DomainError):
    """An order cannot move to a table that has another open order (the message names both)."""

    code = "table_taken"
