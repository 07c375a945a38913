"""The names of a venue's documents: the one module that spells them, and the business day's format.

Every node and the console hold the same named pycrdt documents (docs/architecture.md (Documents)):
``catalog`` (authored at the console), ``stoplist`` and ``denylist`` (always open), and one ``ledger/<day>``
and ``kitchen/<day>`` per business day, ``<day>`` being ``YYYY-MM-DD``. A name is checked wherever one
arrives from outside (a peer, the console, the store), so a bad name is refused before a document exists.
"""

from __future__ import annotations

import datetime
import re

CATALOG = "catalog"
STOPLIST = "stoplist"
DENYLIST = "denylist"
#: opened at start and never unloaded: small, and every page reads them
STANDING_DOCUMENTS = (CATALOG, STOPLIST, DENYLIST)
#: authored at the console only: a node may drop them and pull them again
CONSOLE_DOCUMENTS = (CATALOG,)
LEDGER = "ledger"
KITCHEN = "kitchen"
DAY_FORMAT = "%Y-%m-%d"  # a business day, as ``date.isoformat()`` writes it
MAX_DOC_NAME = 64  # longer than any valid name: a peer's long name is refused before it is matched

#: a business day as a name or an API parameter spells it: month 01-12, day 01-31
DAY_PATTERN = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_DATED = re.compile(rf"^(ledger|kitchen)/{DAY_PATTERN}$")


def ledger_name(day: str) -> str:
    """The ledger document of business day ``day`` (``YYYY-MM-DD``)."""
    return f"{LEDGER}/{day}"


def kitchen_name(day: str) -> str:
    """The kitchen document of business day ``day`` (``YYYY-MM-DD``)."""
    return f"{KITCHEN}/{day}"


def is_ledger(name: str) -> bool:
    return name.startswith(f"{LEDGER}/")


def is_kitchen(name: str) -> bool:
    return name.startswith(f"{KITCHEN}/")


def day_of(name: str) -> str:
    """The business day of a ledger or kitchen document (``ledger/2026-12-04`` -> ``2026-12-04``)."""
    return name.partition("/")[2]


def valid_document_name(name: str) -> bool:
    """``catalog``, ``stoplist``, ``denylist``, ``ledger/YYYY-MM-DD`` or ``kitchen/YYYY-MM-DD``."""
    if name in STANDING_DOCUMENTS:
        return True
    return _DATED.fullmatch(name) is not None and is_calendar_day(day_of(name))


def is_calendar_day(day: str) -> bool:
    """Whether ``day`` (``YYYY-MM-DD`` by :data:`DAY_PATTERN`) is a day of the calendar: the pattern
    lets ``2026-02-31`` through, and a peer's ``ledger/2099-02-31`` reached the console's reports, whose
    date arithmetic then failed on it."""
    try:
        datetime.date.fromisoformat(day)
    except ValueError:
        return False
    return True
