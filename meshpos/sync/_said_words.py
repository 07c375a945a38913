"""A node's said fields signed by the node itself, as they travel (``_far_signing`` takes them).

docs/architecture.md (Security). A far record (``FarRecord``: a node's heartbeat passed on beyond
its links) is any hop's word: one enrolled device forged the relay's record one seq ahead saying
"no uplink, no relay claim" and every far node elected another relay. What the election and the
pages read of a far record is its *said* fields (``_presence._said``: role, priority, uplink, relay
claim, problem); a node signs them with its device key (``SyncConfig.held_signer``: the
attestations' and gone notices' key and checks, ``_held_signed``) only when they change, with the
record seq of that change. The body is sorted JSON of ``node``, ``role``, ``priority``, ``uplink``,
``relay``, ``problem``, ``seq`` and ``venue``: no attestation's (``held``, ``node``, ``venue``) nor
gone notice's (``by``, ``gone``, ``seq``, ``venue``) body has these keys, so none passes for
another. Split from ``_far_signing`` so the heartbeat's codec (``_bodies``) and the features
(``_features``) read the wire without the synchronizer's part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from meshpos.errors import RemoteProtocolError
from meshpos.lib0 import MAX_VAR_UINT
from meshpos.model.limits import MAX_NOTE_CHARS, text_problem
from meshpos.model.roles import ROLES
from meshpos.sync._fields import _ID, signed_json
from meshpos.sync._held_signed import SAID_FIELDS, SignedHeld, decode_signed_parts
from meshpos.sync._presence import Said

#: a peer that announced this takes the heartbeat's ``saids`` field (nodes' signed said fields)
SAID_SIGNED_FEATURE = "saids1"
#: signed parts in one heartbeat (a beat carries 8 far records, a welcome's 24 more)
MAX_SAIDS = 40
#: characters of a body (ids, a role, numbers and a problem of at most MAX_NOTE_CHARS characters,
#: which JSON may escape to six each)
MAX_SAID_BODY = 300 + 6 * MAX_NOTE_CHARS

_KEYS = frozenset({"node", "role", "priority", "uplink", "relay", "problem", "seq", "venue"})


class SaidSignatureRefused(RemoteProtocolError):
    """A peer passed on a node's said fields that the node did not sign, or not as they read."""

    code = "said_signature_refused"


@dataclass(frozen=True, slots=True)
class SaidWord:
    """What a signed part says: ``node`` said ``said`` from its record ``seq`` on."""

    node: str
    said: Said
    seq: int
    venue: str


def said_body(node: str, said: Said, seq: int, venue: str) -> str:
    """The body a node signs (sorted JSON, ASCII: the same bytes for the same content)."""
    role, priority, uplink, relay, problem = said
    return json.dumps(
        {
            "node": node,
            "priority": priority,
            "problem": problem,
            "relay": relay,
            "role": role,
            "seq": seq,
            "uplink": uplink,
            "venue": venue,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def decode_said(body: str) -> SaidWord:
    """A signed part's content, or refused saying why (read once its signature checked)."""
    what = SAID_FIELDS
    raw = signed_json(body)
    if not isinstance(raw, dict) or raw.keys() != _KEYS:
        raise SaidSignatureRefused(f"{what}: body must be an object of {', '.join(sorted(_KEYS))}")
    node, role, priority, uplink = raw["node"], raw["role"], raw["priority"], raw["uplink"]
    relay, problem, seq, venue = raw["relay"], raw["problem"], raw["seq"], raw["venue"]
    if not isinstance(node, str) or not _ID.fullmatch(node):
        raise SaidSignatureRefused(f"{what}: 'node' is not a node id")
    if role not in ROLES:
        raise SaidSignatureRefused(f"{what} of {node!r}: 'role' is no role")
    if type(priority) is not int or not 0 <= priority <= 1_000_000:
        raise SaidSignatureRefused(f"{what} of {node!r}: 'priority' out of range")
    if type(uplink) is not bool or type(relay) is not bool:
        raise SaidSignatureRefused(
            f"{what} of {node!r}: 'uplink' and 'relay' must be true or false"
        )
    if text_problem(problem, MAX_NOTE_CHARS) is not None:
        raise SaidSignatureRefused(f"{what} of {node!r}: 'problem' is no plain text")
    if type(seq) is not int or not 0 <= seq <= MAX_VAR_UINT:
        raise SaidSignatureRefused(f"{what} of {node!r}: 'seq' out of range")
    if not isinstance(venue, str) or not 0 < len(venue) <= 80:
        raise SaidSignatureRefused(f"{what} of {node!r}: 'venue' is not a venue id")
    return SaidWord(node, (role, priority, uplink, relay, problem), seq, venue)


def decode_saids(raw: Any, what: str) -> tuple[SignedHeld, ...]:
    """The ``saids`` field: a list of signed parts, bounded and well formed."""
    return decode_signed_parts(
        raw, what, "saids", ("part", "signed parts"), MAX_SAIDS, MAX_SAID_BODY
    )
