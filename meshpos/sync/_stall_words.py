"""A node's own signed word that it did not run, as it travels (``_stalls`` signs and takes them).

docs/architecture.md (Security), docs/architecture.md (Relay and console). A node whose loop did not
run for seconds (a GC pause, a slow disk, fifty devices on two CPUs) was truly silent: its
neighbours signed it gone (``_notices``), and its next records took their notices back as lies
(the signers distrusted about it for 5 minutes). Only the node itself knows it stalled; it says so
with its device key (``SyncConfig.held_signer``: the key and checks of attestations, gone notices
and said fields, ``_held_signed``). The body is sorted JSON of ``stalled`` (the node), ``after``
(the seq of the last record it made before the stall: what a neighbour that timed it out last
heard), ``ms`` (how long, on its own clock, it did not run) and ``venue``: its first key
(``after``) and key set are no other kind's, so none passes for another. Split from ``_stalls`` so
the heartbeat's codec (``_bodies``) and the features (``_features``) read the wire without the
synchronizer's part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from meshpos.errors import RemoteProtocolError
from meshpos.lib0 import MAX_VAR_UINT
from meshpos.sync._fields import _ID, signed_json
from meshpos.sync._held_signed import STALL_WORD, SignedHeld, decode_signed_parts

#: a peer that announced this takes the heartbeat's ``stalls`` field (nodes' signed stall words)
STALL_SIGNED_FEATURE = "stalls1"
#: signed stall words in one heartbeat (a word goes out for three heartbeats after it was taken)
MAX_STALLS = 16
#: characters of a word's body (a node id, two numbers and a venue id: ~150)
MAX_STALL_BODY = 400
#: the longest stall a word may name, in ms (a week: a suspended laptop; more is no stall)
MAX_STALL_MS = 7 * 24 * 3600 * 1000

_KEYS = frozenset({"after", "ms", "stalled", "venue"})


class StallSignatureRefused(RemoteProtocolError):
    """A peer passed on a stall word that the stalled node did not sign, or not as it reads."""

    code = "stall_signature_refused"


@dataclass(frozen=True, slots=True)
class StallWord:
    """What a signed stall word says: ``node`` did not run for ``ms`` after its record ``seq``."""

    node: str
    seq: int
    ms: int
    venue: str


def stall_body(node: str, seq: int, ms: int, venue: str) -> str:
    """The body a node signs (sorted JSON: its keys are no other signed word's, ``_held_signed``)."""
    return json.dumps(
        {"after": seq, "ms": ms, "stalled": node, "venue": venue},
        separators=(",", ":"),
        sort_keys=True,
    )


def decode_stall(body: str) -> StallWord:
    """A stall word's content, or refused saying why (read once its signature checked)."""
    what = STALL_WORD
    raw = signed_json(body)
    if not isinstance(raw, dict) or raw.keys() != _KEYS:
        raise StallSignatureRefused(f"{what}: body must be an object of {', '.join(sorted(_KEYS))}")
    node, seq, ms, venue = raw["stalled"], raw["after"], raw["ms"], raw["venue"]
    if not isinstance(node, str) or not _ID.fullmatch(node):
        raise StallSignatureRefused(f"{what}: 'stalled' is not a node id")
    if type(seq) is not int or not 0 <= seq <= MAX_VAR_UINT:
        raise StallSignatureRefused(f"{what} of {node!r}: 'after' out of range")
    if type(ms) is not int or not 0 < ms <= MAX_STALL_MS:
        raise StallSignatureRefused(f"{what} of {node!r}: 'ms' out of range")
    if not isinstance(venue, str) or not 0 < len(venue) <= 80:
        raise StallSignatureRefused(f"{what} of {node!r}: 'venue' is not a venue id")
    return StallWord(node, seq, ms, venue)


def decode_stalls(raw: Any, what: str) -> tuple[SignedHeld, ...]:
    """The ``stalls`` field: a list of signed stall words, bounded and well formed."""
    return decode_signed_parts(
        raw, what, "stalls", ("stall word", "stall words"), MAX_STALLS, MAX_STALL_BODY
    )
