"""Gone notices signed by the node that lost the link, as they travel (``_notices`` takes them).

docs/architecture.md (Security). The body a node signs with its device key (``SyncConfig.held_signer``:
the attestations' key and checks, ``_held_signed``) is sorted JSON of ``by`` (the signer), ``gone``
(the node whose link it lost), ``seq`` (the last seq of that node it heard) and ``venue``: no
attestation's body has these keys, nor a notice's an attestation's, so neither passes for the other.
Split from ``_notices`` so the heartbeat's codec (``_bodies``) and the features (``_features``) read
the wire without the synchronizer's part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from meshpos.errors import RemoteProtocolError
from meshpos.lib0 import MAX_VAR_UINT
from meshpos.sync._fields import _ID, signed_json
from meshpos.sync._held_signed import GONE_NOTICE, SignedHeld, decode_signed_parts

#: a peer that announced this takes the heartbeat's ``gones`` field (signed gone notices)
GONE_SIGNED_FEATURE = "gones1"
#: signed notices in one heartbeat (a notice goes out for three heartbeats after it was taken)
MAX_GONES = 16
#: characters of a notice's body (two node ids, a seq and a venue id: ~150)
MAX_GONE_BODY = 400


class GoneSignatureRefused(RemoteProtocolError):
    """A peer passed on a gone notice that its signer did not sign, or not as it reads."""

    code = "gone_signature_refused"


@dataclass(frozen=True, slots=True)
class GoneWord:
    """What a signed notice says: ``by`` lost its link to ``node``, the last seq it heard being ``seq``."""

    node: str
    by: str
    seq: int
    venue: str


def notice_body(node: str, by: str, seq: int, venue: str) -> str:
    """The body a node signs (sorted JSON: its keys are no attestation's, ``_held_signed``)."""
    return json.dumps(
        {"by": by, "gone": node, "seq": seq, "venue": venue}, separators=(",", ":"), sort_keys=True
    )


def decode_notice(body: str) -> GoneWord:
    """A notice's content, or refused saying why."""
    what = GONE_NOTICE
    raw = signed_json(body)
    if not isinstance(raw, dict) or raw.keys() != {"by", "gone", "seq", "venue"}:
        raise GoneSignatureRefused(
            f"{what}: body must be an object of 'by', 'gone', 'seq', 'venue'"
        )
    by, node, seq, venue = raw["by"], raw["gone"], raw["seq"], raw["venue"]
    for name, value in (("by", by), ("gone", node)):
        if not isinstance(value, str) or not _ID.fullmatch(value):
            raise GoneSignatureRefused(f"{what}: {name!r} is not a node id")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_VAR_UINT:
        raise GoneSignatureRefused(f"{what}: 'seq' out of range")
    if not isinstance(venue, str) or not 0 < len(venue) <= 80:
        raise GoneSignatureRefused(f"{what}: 'venue' is not a venue id")
    return GoneWord(node, by, seq, venue)


def decode_gones(raw: Any, what: str) -> tuple[SignedHeld, ...]:
    """The ``gones`` field: a list of signed notices, bounded and well formed."""
    return decode_signed_parts(raw, what, "gones", ("notice", "notices"), MAX_GONES, MAX_GONE_BODY)
