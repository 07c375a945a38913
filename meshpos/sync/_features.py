"""What this build can take from a peer, and how a connection learns what the peer can take
(docs/architecture.md (Wire), compatibility rules).

A venue upgrades one device at a time, so a node of release N talks to nodes and consoles of N−1 for days.
N−1 (``compat/previous_release``) refuses unknown fields in the hello and the heartbeat, so nothing new may
be sent to a peer unless it said it can take it. Each side says so in the websocket upgrade, before the
hello: the request and the response carry ``X-Meshpos-Features: a,b,c``. An older release sends no such
header and ignores ours, so its set is empty, which means "send only what N−1 accepts".

A part that adds a wire message or an optional field names one feature string for it, adds it to
:data:`FEATURES` and sends the new thing only on sessions whose ``peer_features`` hold it (the heartbeat's
optional fields are gated in one table, ``_bodies.FIELD_FEATURES``). A feature name the far end announces
and we do not know is ignored: it only says what the far end can take, never what it will send.
"""

from __future__ import annotations

import re

from meshpos.errors import RemoteProtocolError
from meshpos.sync._digest import DIGEST_FEATURE
from meshpos.sync._gone_words import GONE_SIGNED_FEATURE
from meshpos.sync._held import HELD_COMPACT_FEATURE, HELD_FEATURE
from meshpos.sync._held_signed import HELD_SIGNED_FEATURE
from meshpos.sync._said_words import SAID_SIGNED_FEATURE
from meshpos.sync._signed import EPOCH_FEATURE, SIGNED_FEATURE, TICK_FEATURE
from meshpos.sync._stall_words import STALL_SIGNED_FEATURE
from meshpos.sync._topology import COMPACT_FAR_FEATURE, FULL_MESH_FEATURE, TOPOLOGY_FEATURE

#: a peer that announced this takes batch messages (``_codec.BATCH``: a flush's messages to it in one)
BATCH_FEATURE = "batch1"

#: the HTTP header of the websocket upgrade request and response that carries the sender's features
FEATURES_HEADER = "X-Meshpos-Features"

#: what this build can take. One line per feature, with the part that added it:
FEATURES: frozenset[str] = frozenset(
    {
        "features1",  # upgrade (issue 19): speaks this negotiation (every release after 623a0ca)
        TOPOLOGY_FEATURE,  # topology (issue 18): bounded links, heartbeat far/gone (_topology)
        HELD_FEATURE,  # reach (issue 18): heartbeat held, durability beyond the links (_held)
        HELD_COMPACT_FEATURE,  # held (issue 18): heartbeat heldc, attestations grouped (_held_wire)
        COMPACT_FAR_FEATURE,  # reach (issue 18): heartbeat farc, far records as arrays (_bodies)
        BATCH_FEATURE,  # cpu (issue 18): a flush's messages to one link in one (_codec.BATCH)
        DIGEST_FEATURE,  # digest (issue 18): anti-entropy by digest (_digest, _codec.DIGEST)
        SIGNED_FEATURE,  # signed (issue 18): heartbeat signed, the console's statement (_signed)
        TICK_FEATURE,  # tick (issue 18): heartbeat tick, the console's small "I hear you" (_tick)
        HELD_SIGNED_FEATURE,  # sign (issue 18): heartbeat helds, devices' signed words (_held_signed)
        GONE_SIGNED_FEATURE,  # notice (issue 18): heartbeat gones, signed gone notices (_notices)
        SAID_SIGNED_FEATURE,  # farsign (issue 18): heartbeat saids, far records' said fields signed
        STALL_SIGNED_FEATURE,  # stallword (the twenty-second session): heartbeat stalls (_stalls)
        FULL_MESH_FEATURE,  # tail (issue 18): links on the full mesh up to six devices (_topology)
        EPOCH_FEATURE,  # epoch (the twenty-third session): heartbeat epoch, the console db's (_epoch)
    }
)

MAX_FEATURES = 64  # names in one header
MAX_FEATURE_CHARS = 48  # characters of one name
MAX_HEADER_CHARS = MAX_FEATURES * (MAX_FEATURE_CHARS + 2)
_NAME = re.compile(rf"^[a-z][a-z0-9-]{{0,{MAX_FEATURE_CHARS - 1}}}$")


def features_header(features: frozenset[str] = FEATURES) -> str:
    """The header's value for ``features`` (sorted, so it is byte for byte the same every time)."""
    bad = sorted(name for name in features if not _NAME.fullmatch(name))
    if bad:  # a programming error: a name we could not parse back ourselves
        raise ValueError(f"feature name {bad[0]!r} is not lower-case letters, digits and '-'")
    if len(features) > MAX_FEATURES:
        raise ValueError(f"{len(features)} features, at most {MAX_FEATURES} fit the header")
    return ",".join(sorted(features))


def parse_features(value: str | None) -> frozenset[str]:
    """The features a far end announced in its header (None or "": none, an N−1 peer).

    Strict on shape and bounds (a malformed header is a broken or hostile peer: the connection is refused
    with what was wrong), lenient on meaning (names we do not know are kept and never matter)."""
    if value is None:
        return frozenset()
    if len(value) > MAX_HEADER_CHARS:
        raise RemoteProtocolError(
            f"{FEATURES_HEADER} header: {len(value)} characters, at most {MAX_HEADER_CHARS}"
        )
    names = [part.strip() for part in value.split(",")]
    if names == [""]:
        return frozenset()
    if len(names) > MAX_FEATURES:
        raise RemoteProtocolError(
            f"{FEATURES_HEADER} header: {len(names)} names, at most {MAX_FEATURES}"
        )
    for name in names:
        if not _NAME.fullmatch(name):
            raise RemoteProtocolError(
                f"{FEATURES_HEADER} header: {name[:MAX_FEATURE_CHARS]!r} is not a feature name "
                f"(lower-case letters, digits and '-', at most {MAX_FEATURE_CHARS})"
            )
    return frozenset(names)
