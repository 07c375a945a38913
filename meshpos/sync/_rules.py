"""Roles, document names and the per-document write rules (data, not code).

Write rules are checked in two layers; see the package docstring for why:

1. **delivery** — the certified role of the session an update arrives on must be allowed to *deliver* the
   document: every role may deliver what it may write, and registers (the relay candidates, which bring the
   console's documents into the mesh) may also deliver ``catalog``.
2. **authorship** — no struct in the update may carry a CRDT client id that a directly connected peer announced
   (in its hello) for a role that may not *write* the document.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

ROLES: tuple[str, ...] = ("register", "kds", "console")

#: role -> document patterns that role may author (the "written by" column of ARCHITECTURE.md)
WRITE_RULES: dict[str, tuple[str, ...]] = {
    "register": ("ledger/*", "kitchen/*", "stoplist", "denylist"),
    "kds": ("kitchen/*", "stoplist", "denylist"),
    "console": ("catalog", "stoplist", "denylist"),
}
# ``denylist`` holds revocations signed by the venue CA: anyone may carry them because every reader
# verifies the signature (meshpos.trust), so the document's author does not matter.

#: role -> extra document patterns that role may forward on behalf of their authors
FORWARD_RULES: dict[str, tuple[str, ...]] = {
    "register": ("catalog",),
    "kds": (),
    "console": (),
}

_DATED = re.compile(r"^(ledger|kitchen)/([0-9]{4})-([0-9]{2})-([0-9]{2})$")
MAX_DOC_NAME = 64


def is_valid_doc_name(name: str) -> bool:
    """``catalog``, ``stoplist``, ``denylist``, ``ledger/YYYY-MM-DD`` or ``kitchen/YYYY-MM-DD``."""
    if name in ("catalog", "stoplist", "denylist"):
        return True
    match = _DATED.fullmatch(name)
    if match is None:
        return False
    month, day = int(match.group(3)), int(match.group(4))
    return 1 <= month <= 12 and 1 <= day <= 31


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def may_write(role: str, doc: str) -> bool:
    """May a node of ``role`` author changes to ``doc``?"""
    return _matches(doc, WRITE_RULES.get(role, ()))


def may_deliver(role: str, doc: str) -> bool:
    """May a session whose peer has ``role`` send us updates of ``doc`` (its own or forwarded)?"""
    return may_write(role, doc) or _matches(doc, FORWARD_RULES.get(role, ()))
