"""A peer's chunked messages reassembled, in bounded memory (one :class:`Reassembly` per session).

A y-protocols message larger than one websocket message travels as :class:`~meshpos.sync._messages.Chunk`
pieces sent back to back (``_codec.encode_doc_message``). Reassembly is the one thing a session keeps of
a peer's bytes between its messages, so it is where a peer could make a node hold memory without end:
every open message and all of them together are bounded by the payload limit, at most
:data:`MAX_OPEN_CHUNKED` are open at once, and chunks must come in order. Anything else is a
:class:`~meshpos.errors.RemoteProtocolError` naming the document and the chunk (the session then
closes, ``_session``).

Split out of ``_session`` (issue 18, notices: that module had reached the structure test's 500 lines)
because it is the session's only state about bytes in flight, and reads alone; behaviour unchanged.
"""

from __future__ import annotations

from meshpos.errors import RemoteProtocolError
from meshpos.sync._codec import decode_y_payload
from meshpos.sync._messages import Chunk, DocMessage

#: chunked messages being reassembled at once: an honest peer sends each one's chunks back to back
MAX_OPEN_CHUNKED = 4


class Reassembly:
    """The chunked messages of one peer under way: document -> (total size, parts, size so far)."""

    def __init__(self, max_payload_size: int) -> None:
        self.limit = max_payload_size
        self._open: dict[str, tuple[int, list[bytes], int]] = {}

    def take(self, chunk: Chunk) -> DocMessage | None:
        """Add ``chunk``: the whole message once its last chunk is in, else None."""
        limit = self.limit
        if chunk.index == 0:
            if chunk.doc in self._open:
                raise RemoteProtocolError(
                    f"chunk: new chunked message for {chunk.doc!r} before the last one finished"
                )
            if chunk.total > limit:
                raise RemoteProtocolError(f"chunk: total {chunk.total} exceeds the payload limit")
            if len(self._open) >= MAX_OPEN_CHUNKED:
                raise RemoteProtocolError(
                    f"chunk: more than {MAX_OPEN_CHUNKED} chunked messages open at once"
                )
            self._open[chunk.doc] = (chunk.total, [], 0)
        entry = self._open.get(chunk.doc)
        if entry is None:
            raise RemoteProtocolError(f"chunk: {chunk.index} for {chunk.doc!r} without chunk 0")
        total, parts, size = entry
        if chunk.total != total or chunk.index != len(parts):
            raise RemoteProtocolError(
                f"chunk: got {chunk.index}/{chunk.total} for {chunk.doc!r}, "
                f"expected {len(parts)}/{total}"
            )
        size += len(chunk.data)
        others = sum(n for d, (_, _, n) in self._open.items() if d != chunk.doc)
        if size + others > limit:  # all open reassemblies together: bounded memory per peer
            also = " with the others open" if others else ""
            raise RemoteProtocolError(
                f"chunk: reassembled message for {chunk.doc!r} exceeds {limit} bytes{also}"
            )
        parts.append(chunk.data)
        self._open[chunk.doc] = (total, parts, size)
        if len(parts) < total:
            return None
        del self._open[chunk.doc]
        return decode_y_payload(chunk.doc, b"".join(parts))
