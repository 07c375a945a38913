"""The per-document write rules (data, not code); roles and document names are the model's (``model.roles``,
``model.documents``).

Write rules are checked in two layers; see the package docstring for why:

1. **delivery** — the certified role of the session an update arrives on must be allowed to *deliver* the
   document: every role may deliver what it may write, and registers (the relay candidates, which bring the
   console's documents into the mesh) may also deliver ``catalog``.
2. **authorship** — no struct in the update may carry a CRDT client id that a directly connected peer announced
   (in its hello) for a role that may not *write* the document.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from functools import lru_cache

from meshpos.model.documents import CATALOG, DENYLIST, KITCHEN, LEDGER, STOPLIST

#: role -> document patterns that role may author (docs/architecture.md (Documents), "written by")
WRITE_RULES: dict[str, tuple[str, ...]] = {
    "register": (f"{LEDGER}/*", f"{KITCHEN}/*", STOPLIST, DENYLIST),
    "kds": (f"{KITCHEN}/*", STOPLIST, DENYLIST),
    "console": (CATALOG, STOPLIST, DENYLIST),
}
# ``denylist`` holds revocations signed by the venue CA: anyone may carry them because every reader
# verifies the signature (meshpos.trust), so the document's author does not matter.

#: role -> extra document patterns that role may forward on behalf of their authors
FORWARD_RULES: dict[str, tuple[str, ...]] = {
    "register": (CATALOG,),
    "kds": (),
    "console": (),
}


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns)


# Both are asked for every update received and every change made (the console: for every author it
# knows, per update), and fnmatch was a tenth of a console's CPU per uploaded receipt. Names are
# checked before they get here (a venue's documents: a few a day), the roles are three; the bound
# only keeps a peer's junk from growing the cache.
_CACHED = 4096


@lru_cache(maxsize=_CACHED)
def may_write(role: str, doc: str) -> bool:
    """May a node of ``role`` author changes to ``doc``?"""
    return _matches(doc, WRITE_RULES.get(role, ()))


@lru_cache(maxsize=_CACHED)
def may_deliver(role: str, doc: str) -> bool:
    """May a session whose peer has ``role`` send us updates of ``doc`` (its own or forwarded)?"""
    return may_write(role, doc) or _matches(doc, FORWARD_RULES.get(role, ()))


@lru_cache(maxsize=_CACHED)
def forwards_everything(role: str) -> bool:
    """Does a node of ``role`` pass every document of the mesh on (a register does; a kitchen screen
    passes on no ledger and no catalog)? The bounded topology keeps the others at its edge."""
    day = "2000-01-01"
    docs = (f"{LEDGER}/{day}", f"{KITCHEN}/{day}", CATALOG, STOPLIST, DENYLIST)
    return all(may_deliver(role, doc) for doc in docs)
