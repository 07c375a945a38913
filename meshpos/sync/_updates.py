"""Questions about a Yjs update that pycrdt does not answer directly, answered with pycrdt's own decoder.

``has_structs_from(update, {client: clock})`` tells whether ``update`` carries any struct of ``client`` at or
after ``clock``: the update is diffed once against a state vector that claims those clients only up to
``clock`` and once against one that claims them completely; the two differ exactly when such structs exist.
(pycrdt's ``get_state(update)`` cannot be used: it is empty for an update with a gap.) The two diffs are
compared by length, not bytes: pycrdt re-encodes the update and does not keep the order of the keys of a
JSON-like value (nor of clients), so equal diffs can differ byte for byte; a struct left out always
shortens the encoding.
"""

from __future__ import annotations

from collections.abc import Mapping

from pycrdt import get_update

from meshpos.sync._bytes import MAX_VAR_UINT
from meshpos.sync._codec import encode_state_vector

EMPTY_UPDATE = b"\x00\x00"
EMPTY_STATE_VECTOR = b"\x00"


def has_structs_from(update: bytes, lower: Mapping[int, int]) -> bool:
    if not lower:
        return False
    below = get_update(update, encode_state_vector(dict(lower)))
    full = get_update(update, encode_state_vector(dict.fromkeys(lower, MAX_VAR_UINT)))
    return len(below) != len(full)
