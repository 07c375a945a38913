"""The synchronizer's answers to sync step 1s (docs/architecture.md (Wire)).

Replies are bounded per peer: at most one step 2 per document per ``reply_interval``. A step 1 arriving
sooner is coalesced into the next reply (each client's lowest clock) and counted against the peer's
budget (see ``_session``); that reply, sent from ``tick``, leaves out what the last one already carried
(the stream is ordered: the peer holds it once the earlier reply arrives), so a flood of step 1s costs
one reply, not one each. A mixin of :class:`~meshpos.sync._synchronizer.Synchronizer` (through
``_exchange``), which owns the state named below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pycrdt import Doc

from meshpos.errors import RemoteProtocolError
from meshpos.model.replica import decode_state_vector, encode_state_vector
from meshpos.sync._config import SyncConfig
from meshpos.sync._messages import SyncStep2, SyncUpdate
from meshpos.sync._rules import may_deliver
from meshpos.sync._session import ReplyState, Session
from meshpos.sync._updates import EMPTY_UPDATE, held_clocks, split_by_author

# A step 2 this many clocks (about 100 kB of a day's records) behind, spread over several authors, goes as
# one update per author: the receiver checks each one's author from its header instead of decoding it all
# an extra time (tests/sync/test_sync_catchup.py).
SPLIT_STEP2_CLOCKS = 1000


def _lowest(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    """The state vector both ``a`` and ``b`` hold: each client's lower clock (absent: 0)."""
    return {c: min(n, b[c]) for c, n in a.items() if c in b}


def _highest(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    """The state vector of ``a`` and ``b`` together: each client's higher clock."""
    return {c: max(a.get(c, 0), b.get(c, 0)) for c in a.keys() | b.keys()}


class Replies:
    """Sync step 2 replies, bounded per peer (a mixin of ``Synchronizer``)."""

    config: SyncConfig
    _docs: dict[str, Doc[Any]]

    if TYPE_CHECKING:

        @property
        def role(self) -> str: ...

        def is_closed(self, name: str) -> bool: ...

        def _answer_waiting(
            self, peer: str, session: Session, name: str, asked: dict[int, int]
        ) -> None: ...

    def _reply(
        self,
        session: Session,
        name: str,
        doc: Doc[Any],
        asked: dict[int, int],
        state_vector: bytes | None = None,
    ) -> None:
        """Send the sync step 2 for ``asked`` (its bytes when the peer sent them as they are)."""
        ours = dict(held_clocks(doc))  # kept with the reply: a copy of the shared parse
        deliver = may_deliver(self.role, name)
        pieces = [EMPTY_UPDATE]
        if deliver:  # always a diff, even for a state vector like ours: it carries our deletions
            try:
                pieces = self._diff(doc, state_vector or encode_state_vector(asked))
            except Exception as exc:
                raise RemoteProtocolError(f"sync step 1 for {name}: unusable ({exc})") from None
        for piece in pieces[:-1]:
            session.send(SyncUpdate(name, piece))
        session.send(SyncStep2(name, pieces[-1]))  # last: the peer is in sync once it arrives
        session.spent_on_reply(sum(map(len, pieces)))
        session.replies[name] = ReplyState(session.now, ours if deliver else None)

    def _reply_waiting(self, peer: str, session: Session) -> None:
        """Answer the coalesced step 1s whose interval is over, while the reply budget has room."""
        interval = self.config.session.reply_interval
        for name, last in list(session.replies.items()):
            if last.waiting is None or session.now - last.at < interval:
                continue
            if not session.may_reply():
                return
            if self.is_closed(name):  # closed meanwhile: answered from what it keeps
                del session.replies[name]
                self._answer_waiting(peer, session, name, last.waiting)
                continue
            doc = self._docs.get(name)
            if doc is None:  # dropped meanwhile (clear cache): nothing to give
                session.send(SyncStep2(name, EMPTY_UPDATE))
                del session.replies[name]
                continue
            # what the last reply carried, the peer holds once it arrives: leave it out
            asked = _highest(last.waiting, last.sent) if last.sent is not None else last.waiting
            self._reply(session, name, doc, asked)

    @staticmethod
    def _diff(doc: Doc[Any], state_vector: bytes) -> list[bytes]:
        """What a peer lacks: one update, or one per author when several wrote much (a catch-up)."""
        theirs = decode_state_vector(state_vector)
        clocks = held_clocks(doc)
        behind = {c: n - theirs.get(c, 0) for c, n in clocks.items() if n > theirs.get(c, 0)}
        if len(behind) > 1 and sum(behind.values()) >= SPLIT_STEP2_CLOCKS:
            return split_by_author(doc, theirs, behind, clocks)
        return [doc.get_update(state_vector)]
