"""The console's storage port, and the one place that turns a database URL into an adapter.

``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` (the SQLAlchemy convention) open
SQLite, the default for one venue or a few; ``postgresql://user@host:port/dbname`` opens PostgreSQL
for chains. Both adapters pass one contract suite (tests/console).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from meshpos.console.cursor import Cursor
from meshpos.console.dburl import redact, sqlite_path
from meshpos.console.devices import Sighting
from meshpos.console.epoch_marks import EpochMarks
from meshpos.console.notices import StoredNotice
from meshpos.console.records import Alarm, AuditEntry, MaterialiseResult, RecordBatch
from meshpos.console.stock_reports import StockEntry
from meshpos.errors import ConfigError
from meshpos.model.tally import Tally

DEFAULT_COMPACT_ROWS = 500
T = TypeVar("T")


@runtime_checkable
class ConsoleDB(Protocol):
    """Per-venue CRDT state, the venue registry and the materialised money records."""

    url: str
    """The URL it was opened with, password removed (safe to log)."""

    async def close(self) -> None:
        """Finish the running transaction and disconnect. Safe to call twice."""

    # venues
    async def add_venue(self, venue_id: str, name: str, token_hash: str) -> None:
        """Register a venue; ``token_hash`` is ``hash_token(token)``, the token is never stored."""

    async def venue_for_token(self, token: str) -> str | None:
        """The venue a relay's token belongs to, or None."""

    marks: EpochMarks | None
    """The console's marks of what it stated (console/epoch_marks.py); None: none kept."""

    async def venue_epoch(self, venue_id: str) -> int | None:
        """The console's epoch for the venue (ms; None: not held), which its registers see change
        when the database is replaced or went backwards (sync/_epoch.py)."""

    async def start_epoch(self, venue_id: str) -> int | None:
        """The epoch to sign at the venue's load: a new one if the database went backwards since
        :attr:`marks` (console/epoch_marks.py)."""

    async def mark_heard(self, venue_id: str) -> None:
        """Mark the database's count before applying what another process committed."""

    async def settle_marks(self) -> None:
        """At a clean stop: the marks become the database's counts (console/epoch_marks.py)."""

    async def token_hash_of(self, venue_id: str) -> str | None:
        """The hash of ``venue_id``'s relay token, or None for a venue not held."""

    async def venue_ca_of(self, venue_id: str) -> str | None:
        """The venue CA (fingerprint) ``venue_id`` belongs to, or None while not learned."""

    async def learn_venue_ca(self, venue_id: str, venue_ca: str) -> str:
        """Keep ``venue_ca`` unless the venue has one; the one it has after."""

    async def replace_token(self, venue_id: str, token_hash: str) -> None:
        """Take ``token_hash`` as the venue's relay token from now on; the old one is refused."""

    async def venues(self) -> list[str]: ...

    async def venue_names(self) -> dict[str, str]:
        """Each venue's id -> the name it was created with."""

    async def take_relay_nonce(self, venue_id: str, nonce: str) -> bool:
        """Take the console nonce a relay's upgrade signed (trust/relay_proof.py), once for every
        console process sharing the database and across restarts; False if it was taken already."""

    async def check_writes(self) -> None:
        """Commit a write that leaves nothing behind; StoreError saying why when the database
        refuses it now (a full disk, a server gone): console/health.py."""

    async def add_audit(self, venue_id: str, entry: AuditEntry) -> None:
        """Keep one console write in the venue's audit log on its own: an edit that left the documents
        as they were (meshpos.console.drafts); every other entry goes with its write."""

    async def audit_log(
        self, venue_id: str, *, limit: int, before_seq: int | None = None
    ) -> list[AuditEntry]:
        """The venue's audit log, newest first (in the order written): ``limit`` entries before
        ``seq`` ``before_seq`` (a cursor: entries written in the same millisecond are all seen)."""

    # CRDT state
    async def append_updates(
        self, venue_id: str, doc_name: str, updates: Sequence[bytes], *, validated: bool = False
    ) -> int | None:
        """Store Yjs updates in one transaction, durable on return; repeats are harmless. Returns the
        document's version (one more per append; None when nothing was appended).

        Every update is parsed first and the whole call refused if one does not parse, unless
        ``validated``: the caller vouches that pycrdt produced them (a document's change events)."""

    async def append_documents(
        self,
        venue_id: str,
        updates: Mapping[str, Sequence[bytes]],
        *,
        validated: bool = False,
        audit: Sequence[AuditEntry] = (),
    ) -> dict[str, int]:
        """``append_updates`` for several documents in one transaction (a relay's batch touches the
        day and the stop list: one commit, not one per document); every document's or none. Returns
        each appended document's version. ``audit``: the console edits these updates carry, logged
        in the same transaction (both or neither)."""

    async def load_document(self, venue_id: str, doc_name: str) -> bytes | None:
        """One update that rebuilds everything held of the document, or None if never seen."""

    async def documents(self, venue_id: str, *, open_only: bool = False) -> list[str]:
        """The venue's documents (``open_only``: not the closed business days)."""

    # closed business days: in the database only (their summary answers the relays)
    async def close_document(
        self,
        venue_id: str,
        doc_name: str,
        state_vector: bytes,
        deletions: bytes,
        keys: Iterable[str] = (),
        reports: Tally | None = None,
    ) -> None:
        """Mark a day closed with its state vector, deletions and ``reports`` (what the report
        tables hold of it), fold it into one segment, index ``keys`` (record keys) to it; an append
        reopens it."""

    async def closed_documents(self, venue_id: str) -> dict[str, tuple[bytes, bytes]]:
        """Closed day -> (state vector, deletions)."""

    async def closed_reports(self, venue_id: str) -> dict[str, Tally]:
        """Closed day -> its ``reports`` as stored when it closed."""

    async def find_closed(self, venue_id: str, key: str) -> str | None: ...

    async def reopen_document(self, venue_id: str, doc_name: str) -> bytes | None:
        """Mark a closed day open again; what it holds, as one update."""

    async def document_version(self, venue_id: str, doc_name: str) -> int:
        """How many appends the document has had (0: none); read it before loading the document."""

    async def compact(self, venue_id: str, doc_name: str) -> None:
        """Fold the update log into the snapshot now (also done every N appended rows)."""

    async def log_rows(self, venue_id: str, doc_name: str) -> int: ...

    async def segments(self, venue_id: str, doc_name: str) -> list[int]:
        """The sizes of the document's snapshot segments, oldest first: each more than twice the
        next (compaction re-merges a byte about log2(n) times, never the whole day each time)."""

    # materialised records
    async def write_records(
        self,
        venue_id: str,
        batch: RecordBatch,
        *,
        at_ms: int | None = None,
        version: int | None = None,
    ) -> MaterialiseResult:
        """Used by ``materialise()``; call that instead. With the ``version`` of the document the
        rows come from: StaleWrite, and nothing written, when a later version is stored."""

    async def records(
        self, venue_id: str, table: str, days: tuple[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Every stored row of one table, of the business days ``days`` (first, last) or of all
        (the JSON API asks days: console/listings.py; tests compare whole tables)."""

    async def alarms(self, venue_id: str) -> list[Alarm]: ...

    async def receipt_report(
        self, venue_id: str, date: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[dict[str, Any]]: ...

    async def shift_report(
        self, venue_id: str, date: str | None = None
    ) -> list[dict[str, Any]]: ...

    async def totals(self, venue_id: str, date: str | None = None) -> dict[str, int]: ...

    async def register_report(self, venue_id: str) -> list[dict[str, Any]]:
        """Per register: receipts held and when its last record arrived (``last_record_ms``)."""

    async def report(self, query: Callable[[Cursor], Awaitable[T]]) -> T:
        """Run one of ``manager_reports``' queries on committed data (one read, one state)."""

    async def add_stock_entry(
        self, venue_id: str, entry: StockEntry, audit: AuditEntry | None = None
    ) -> None:
        """Store a supply or write-off entered at the console (a duplicate id is a StoreError), with
        its audit entry in the same transaction."""

    # what each day could not materialise, shared by every console process
    async def set_unreported(self, venue_id: str, doc_name: str, records: int, reason: str) -> None:
        """``records`` of the day are at the console but not in its reports, for ``reason`` (0:
        all are)."""

    async def unreported(self, venue_id: str) -> dict[str, tuple[int, str]]:
        """Day -> (records not in the reports, why), as the last materialisation of each found it."""

    # what the relays say of each device, shared by every console process
    async def record_sightings(self, seen: Mapping[str, Mapping[str, Sighting]]) -> None:
        """Store the sightings per venue and device, keeping a stored one that is more recent."""

    async def sightings(self, venue_id: str) -> dict[str, Sighting]:
        """The latest sighting of every device of the venue, by any console process."""


@runtime_checkable
class SharedConsoleDB(ConsoleDB, Protocol):
    """A database several console processes share (PostgreSQL): each process hears what the others
    commit, so an edit made through one reaches the relays connected to any other
    (docs/architecture.md (Relay and console))."""

    async def listen(self, heard: Callable[[StoredNotice | None], None]) -> None:
        """Call ``heard`` with every other process's commit, in commit order, from now until
        :meth:`close`; with None after the listening connection was lost and came back (anything
        may have been missed: read what matters again)."""

    async def stored_updates(self, notice: StoredNotice) -> list[bytes] | None:
        """The updates ``notice`` names, or None when they were compacted away meanwhile (then the
        whole document, :meth:`load_document`, holds them)."""


async def open_console_db(
    url: str, *, compact_rows: int = DEFAULT_COMPACT_ROWS, init_database: bool = False
) -> ConsoleDB:
    """Open (and on first use create) the console database named by ``url``.

    Raises ConfigError for a URL of another kind, StoreError when the server or file cannot be
    opened, SchemaTooNew for a database written by a newer meshpos, CorruptDatabase for a damaged file.
    """
    if not isinstance(url, str):
        raise ConfigError(f"console database URL must be a string, not {type(url).__name__}")
    if compact_rows < 1:
        raise ConfigError(f"compact_rows must be at least 1, got {compact_rows}")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        from meshpos.console.db_sqlite import SqliteConsoleDB

        return await SqliteConsoleDB.open(
            sqlite_path(url), compact_rows=compact_rows, init_database=init_database
        )
    if scheme in ("postgresql", "postgres"):
        if init_database:  # (a server's database is made by its owner: createdb)
            raise ConfigError("--init-database is for a SQLite console database only")
        from meshpos.console.db_postgres import PostgresConsoleDB

        return await PostgresConsoleDB.open(url, compact_rows=compact_rows)
    raise ConfigError(
        f"console database URL {redact(url)!r} is not supported: use sqlite:///path/to/file.db "
        "or postgresql://user@host:port/dbname"
    )
