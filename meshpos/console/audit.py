"""The venue's audit log: every console write (catalog edits, stop list, PINs, settings, imports, copies,
stock entries) with who made it, when, and what changed.

A write is audited after its edit committed (the edit is in the venue's documents and on its way to the
registers); an audit entry for an edit that did not happen would be a lie, and an edit whose entry could
not be written is still an edit: its failure is raised to the caller, whose request fails with the
database's error (503) although the edit stands, so the console's user sees that the log is behind.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from meshpos.console.db import ConsoleDB
from meshpos.console.records import AuditEntry
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


async def record(
    db: ConsoleDB, venue: str, who: str, action: str, subject: str, detail: dict[str, Any]
) -> AuditEntry:
    """Keep one console write: ``action`` (e.g. ``product.put``) on ``subject`` (an id), with
    ``detail`` (JSON: ``before``/``after`` summaries, counts)."""
    check_text(who, "audit: who", MAX_ID_CHARS)
    check_text(action, "audit: action", MAX_ID_CHARS)
    check_text(subject, "audit: subject", MAX_NAME_CHARS)
    plain = summary(detail)
    check_value(plain, f"audit {action}")
    entry = AuditEntry(int(time.time() * 1000), who, action, subject, plain)
    await db.add_audit(venue, entry)
    return entry
