"""The devices that hold a receipt, for its durability ("on k of n devices"), kept between statuses.

**Changed** (issue 18, held): a status counted the latest sale's devices by building every node's
held state (``sync.held_by``: each link's step 1 and the attestations beyond, copied into dicts) and
testing each against the receipt's state, on every status: ~0.6 ms profiled per status at 20 devices,
growing with the venue. Now the count of one receipt is kept, and only the nodes whose held state
moved since (``sync.held_moved``: a step 1, an attestation, a closed day) are tested again; a new
receipt (another document or state) is counted afresh. What a node holds is never taken from an
older read than the last move of it, so the count is never above what ``held_by`` says.
"""

from __future__ import annotations

from meshpos.model.tally import covers
from meshpos.sync import Synchronizer


class HeldCount:
    """The nodes holding one receipt's state of one document, and those holding any of it."""

    def __init__(self) -> None:
        self._of: tuple[object, str, dict[int, int]] | None = None  # (sync, doc, receipt state)
        self._stamp = -1  # the last move read (``sync.held_moved``)
        self._holders: set[str] = set()  # nodes with a held state of the document
        self._covering: set[str] = set()  # of them, those whose state covers the receipt's
        self.recounts = 0  # full counts (every node read): a test counts them

    def count(self, sync: Synchronizer, doc: str, needed: dict[int, int]) -> tuple[int, set[str]]:
        """How many other nodes hold ``needed`` of ``doc``, and every node holding ``doc`` at all
        (the caller's n; read it, never change it)."""
        of = self._of  # (another synchronizer's stamps are not this one's)
        same = of is not None and of[0] is sync and of[1] == doc and of[2] == needed
        stamp, moved = sync.held_moved(doc, self._stamp if same else -1)
        if not same or moved is None:
            self._of = (sync, doc, dict(needed))
            self.recounts += 1
            held = sync.held_by(doc)
            self._holders = set(held)
            self._covering = {node for node, state in held.items() if covers(state, needed)}
        else:
            for node in moved:
                state = sync.held_of(doc, node)
                if state is None:
                    self._holders.discard(node)
                    self._covering.discard(node)
                    continue
                self._holders.add(node)
                if covers(state, needed):
                    self._covering.add(node)
                else:
                    self._covering.discard(node)
        self._stamp = stamp
        return len(self._covering), self._holders
