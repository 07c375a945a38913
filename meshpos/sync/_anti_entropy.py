"""The synchronizer's anti-entropy round (docs/architecture.md (Wire), anti-entropy by digest): a digest to
each peer that announced :data:`~meshpos.sync._digest.DIGEST_FEATURE`, a step 1 per document to any other,
and the answer to a digest. Kept apart from the digest's encoding (``_digest``), which the codec needs
without the session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pycrdt import Doc

from meshpos.sync._digest import DIGEST_FEATURE, doc_hash
from meshpos.sync._held import StepOnes
from meshpos.sync._messages import Digest, SyncStep1
from meshpos.sync._updates import held_clocks

if TYPE_CHECKING:
    from meshpos.sync._session import Session


class Digests:
    """The synchronizer's anti-entropy round (a mixin of ``Synchronizer``): a digest to each peer that
    announced :data:`DIGEST_FEATURE`, a step 1 per document to any other, and the answer to a digest."""

    _docs: dict[str, Doc[Any]]
    _held_by: StepOnes
    _hashes: dict[str, tuple[Doc[Any], bytes]]  # by document, until it changes (``_on_change``)

    if TYPE_CHECKING:

        def _exchanging(self) -> list[Session]: ...

    def _anti_entropy(self) -> None:
        digest: Digest | None = None
        for session in self._exchanging():
            if DIGEST_FEATURE in session.peer_features and not session.stock:
                digest = digest or self._digest()
                session.send(digest)
                continue
            for name, doc in self._docs.items():
                session.send(SyncStep1(name, doc.get_state()))

    def _own_hash(self, name: str, doc: Doc[Any]) -> bytes:
        cached = self._hashes.get(name)
        if cached is None or cached[0] is not doc:
            cached = (doc, doc_hash(doc))
            self._hashes[name] = cached
        return cached[1]

    def _digest(self) -> Digest:
        """This period's digest: one for every session (a document's hash is kept until it changes)."""
        return Digest(tuple((name, self._own_hash(name, doc)) for name, doc in self._docs.items()))

    def _on_digest(self, session: Session, digest: Digest) -> None:
        """Send our step 1 for every open document whose hash differs from the peer's (or that it does
        not list); the peer does the same with ours, so both directions are repaired. A document only
        the peer lists is not asked for here: the peer sees it missing from our digest and sends its
        step 1, answered as always (so a name a peer lists makes us open or send nothing). Equal hashes
        mean the peer holds what we hold: noted for the durability count, as its step 1 was."""
        theirs = dict(digest.hashes)
        notes = session.peer is not None and session.peer.role != "console" and not session.stock
        for name, doc in self._docs.items():
            if theirs.get(name) != self._own_hash(name, doc):
                session.send(SyncStep1(name, doc.get_state()))
            elif notes and session.peer is not None:
                self._held_by.note(session.peer.node, name, dict(held_clocks(doc)))
