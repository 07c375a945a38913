"""The venue's audit log: every console write (catalog edits, stop list, PINs, settings, imports, copies,
stock entries) with who made it, when, and what changed.

A write and its entry are one database transaction: a catalog or stop-list edit's entry is committed with
the edit's updates (``Hub.edit`` hands it to ``VenueDocuments.append``, which gives it to
``ConsoleDB.append_updates``), a stock entry's with the entry. So there is never an entry for an edit that
did not happen, nor an edit without its entry, and a request that answers a failure changed nothing in
the database. The entry is made once the edit has changed the documents (its ``after``), and making it
cannot fail (``entry``): a detail that cannot be stored is kept as a note saying why.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from meshpos.console.records import AuditEntry
from meshpos.errors import MeshposError
from meshpos.model.limits import MAX_ID_CHARS, MAX_NAME_CHARS, check_text, check_value

MAX_AUDIT_PAGE = 500  # entries one read returns at most


def summary(value: object) -> Any:
    """What a detail keeps of an entity: its plain fields, never a PIN hash."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: summary(v) for k, v in value.items() if k != "pin_hash"}
    if isinstance(value, (list, tuple, frozenset, set)):
        items = [summary(v) for v in value]
        return sorted(items) if isinstance(value, (set, frozenset)) else items
    return value


def check_head(who: str, action: str, subject: str) -> None:
    """Refuse (InvalidInput) an entry's who, action or subject before the write it logs is made."""
    check_text(who, "audit: who", MAX_ID_CHARS)
    check_text(action, "audit: action", MAX_ID_CHARS)
    check_text(subject, "audit: subject", MAX_NAME_CHARS)


def entry(who: str, action: str, subject: str, detail: dict[str, Any]) -> AuditEntry:
    """One console write: ``action`` (e.g. ``product.put``) on ``subject`` (an id), with ``detail``
    (JSON: ``before``/``after`` summaries, counts). Raises nothing once :func:`check_head` passed: it
    runs after the edit changed the documents, where a failure would leave an edit unlogged."""
    plain = summary(detail)
    try:
        check_value(plain, f"audit {action}")
    except MeshposError as exc:
        plain = {"unrecordable": exc.message}
    return AuditEntry(int(time.time() * 1000), who, action, subject, plain)
