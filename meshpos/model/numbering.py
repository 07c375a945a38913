"""Receipt numbers: one gap-tolerant sequence per register (``R2-000123``) that must never repeat.

A register numbers its receipts offline, so the only thing that can make a number repeat is a register that
forgot how far it got: a wiped data dir, a re-enrolled device id, a restored backup. Two defences:

* The **high-water mark** of every numbering series is kept in the ``stoplist`` document, the one always
  open document every device already syncs, that a register may write, and that the console keeps and sends
  back (map ``receipt_numbers``: series -> highest issued sequence). It is raised before the receipt is
  written and committed to the store with it, so a peer or the console that holds a receipt of a series also
  holds its mark, and the mark never depends on old ledger days being loaded.
* A register whose store has never recorded a number (a fresh database) does not know its numbers and
  refuses to sell (:class:`ReceiptNumbersUnknown`) until it has been in sync with a peer or the console, or
  until the operator starts a **new series**: numbers with a random tag (``R2-k7qm-000001``) that no earlier
  number of the register can equal, whatever was issued before.

Gaps are harmless (a mark raised for a receipt that was then not written); repeats are what this prevents.
A bogus mark from a peer only makes a gap, so a mark is taken as the maximum of what is known.

**Changed** (issue 18, marks): the mark is still committed with its receipt, but the node lets it
*leave* up to a second later, merged with the next ones (:attr:`ReceiptNumbering.marking`,
``register/numbering.py``; ``sync/_lingering.py``: lazily): each sale was two updates that every device
decoded, checked, applied, forwarded and committed, the second only this mark. So a peer may hold a
receipt whose mark it does not hold yet, and a register that loses its database in that second leaves
peers with receipts above their mark. Bounded: at most :data:`MARKS_UNSENT_AT_MOST` marks wait at once
(then they leave), so when a receipt leaves every mark more than that below it has left before it on
the same link, and a register that learns its numbers continues that many above what it learned
(:meth:`ReceiptNumbering.learned`: a gap, never a repeat). A series' first mark leaves with its
receipt, so a register that learns no mark of its series has sold nothing any peer holds (no skip).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from pycrdt import Doc, Map

from meshpos.digits import ascii_digits
from meshpos.errors import ReceiptNumbersUnknown
from meshpos.model._map_reads import get
from meshpos.model._writes import put
from meshpos.model.documents import STOPLIST
from meshpos.model.ledger import Ledger
from meshpos.model.limits import MAX_RECEIPT_SEQ

NUMBERS_DOCUMENT = STOPLIST  # the numbering rides in the always-open stop list
NUMBERS_MAP = "receipt_numbers"
SERIES_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: read aloud from a paper receipt
SERIES_LENGTH = 4
#: at most this many of a register's marks wait unsent at once; a register that learns its numbers
#: continues this many above what it learned (see the module's docstring)
MARKS_UNSENT_AT_MOST = 32


def new_series_tag() -> str:
    """A random tag for a new numbering series (31**4, about 920,000 possibilities)."""
    return "".join(secrets.choice(SERIES_ALPHABET) for _ in range(SERIES_LENGTH))


def series_name(device: str, tag: str = "") -> str:
    """The prefix of a series' numbers: ``R2`` for the register's first series, ``R2-k7qm`` for a tagged one."""
    return f"{device}-{tag}" if tag else device


def format_number(series: str, seq: int) -> str:
    return f"{series}-{seq:06d}"


def looks_numbered(text: str) -> bool:
    """Could ``text`` be a receipt number (``format_number``: a series, a dash, six digits or more)
    rather than a record id? Where a path takes either, only such text is looked up by number."""
    series, _, seq = text.rpartition("-")
    return bool(series) and len(seq) >= 6 and ascii_digits(seq)


def _sequence(value: Any) -> int:
    """A mark as read from the document (pycrdt gives floats). Anything else counts as none: a mark
    only ever moves numbers on, so a peer's junk must not stop a register selling (too big to store)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if value != value or not 0 <= value <= MAX_RECEIPT_SEQ or value != int(value):
        return 0
    return int(value)


class ReceiptNumbering:
    """Which series a register numbers in, how far it got, and whether it may trust that."""

    #: what a mark's write runs in after the series' first: the node lets its update wait
    #: (``register/numbering.py``, at most :data:`MARKS_UNSENT_AT_MOST` at once); here, nothing
    marking: Callable[[], AbstractContextManager[None]] = nullcontext

    def __init__(
        self, doc: Doc[Any], device: str, *, seq: int = 0, known: bool = True, tag: str = ""
    ) -> None:
        self._doc = doc
        self._marks = doc.get(NUMBERS_MAP, type=Map)
        self.device = device
        self.tag = tag
        self.seq = seq
        self.known = known

    @property
    def series(self) -> str:
        return series_name(self.device, self.tag)

    def mark(self, series: str | None = None) -> int:
        """The highest sequence of ``series`` (default: ours) any device recorded in the mesh."""
        return _sequence(get(self._marks, series or self.series, None))

    def catch_up(self, ledgers: Iterable[Ledger]) -> None:
        """Continue after the highest number of our series seen anywhere: the mesh's mark and the
        receipts in the loaded ledger days (which may predate marks)."""
        series = self.series
        seen = [
            seq
            for ledger in ledgers
            for issued_series, seq in ledger.issued_numbers()
            if issued_series == series
        ]
        self.seq = max([self.seq, self.mark(), *seen])

    def learned(self, ledgers: Iterable[Ledger]) -> None:
        """We have been in sync with a peer or the console: what they know of our numbers is here,
        but for at most :data:`MARKS_UNSENT_AT_MOST` receipts whose marks never left (the module's
        docstring): continue above those too."""
        self.catch_up(ledgers)
        if self.seq > 0:
            self.seq += MARKS_UNSENT_AT_MOST
        self.known = True

    def publish(self) -> bool:
        """Raise our series' mark to what we know if the mesh's is behind (a register that numbered
        before marks existed, or one whose mark write was lost): whether anything was written."""
        if not self.known or self.seq <= self.mark():
            return False
        with self._doc.transaction():
            put(self._marks, self.series, self.seq, f"{NUMBERS_MAP}/{self.series}")
        return True

    def require_known(self) -> None:
        if not self.known:
            raise ReceiptNumbersUnknown(
                f"register {self.device} has a new database and does not know its last receipt "
                "number, shift and orders yet: connect it to another register or the console and "
                "wait until it is in sync, or have the operator start a new receipt number series "
                "(meshpos node --new-receipt-series)"
            )

    def issue(self) -> tuple[str, int]:
        """The next number, with the series' mark raised first: if the receipt is then not written
        the number is skipped, never used twice."""
        self.require_known()
        seq = max(self.seq, self.mark()) + 1
        self.seq = seq  # kept even if the sale's writes are taken back: a gap, never a repeat
        with self.marking() if seq > 1 else nullcontext(), self._doc.transaction():
            put(self._marks, self.series, seq, f"{NUMBERS_MAP}/{self.series}")
        return format_number(self.series, seq), seq
