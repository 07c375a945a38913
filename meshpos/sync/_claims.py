"""What a peer's heartbeats may make this node keep: bounded, whatever an enrolled device claims.

docs/architecture.md (Security). On the bounded topology every node takes, from any linked peer, far
records of nodes beyond its links, gone notices, and the console's state vectors and report counts
passed on (``_spread``, ``_passing``). The decoder bounds one heartbeat (``_bodies``); nothing bounded
what a stream of them leaves behind, and an enrolled device turned hostile could name new ones in every
beat (a heartbeat budget allows 40 a second):

* far records of invented nodes (64 a beat): each one a member of the venue, passed on to the whole
  mesh as news, and a far record's lifetime grows with the table (``_far_timeout``), so the table
  grew for hours;
* new client ids in the console's state of an open day (4,096 a beat) and new registers in its report
  counts (1,024 a beat): kept for the day, and passed on to every link, where a state vector above the
  decoder's own bound closed every honest link of the mesh as a protocol error.

So each is kept up to a venue's worth (:data:`MAX_FAR_NODES`, plus the gone notes of this node's
own links; the decoder's own bounds for the console's state): past that, a claim about something this node already keeps, or holds, or knows is
still taken (it may push out one that is none of these), and the rest is refused, counted and logged
once per device and cause (:class:`ClaimRefusals`). A bound trades a hostile device's claims for
pessimism only: a node it crowds out is learnt from its own links, a count the console's state lacks
stays pending. What an enrolled device can still forge within the bounds:
docs/architecture.md (Security).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from meshpos.sync._bodies import MAX_JSON_DOCS

log = logging.getLogger("meshpos.sync")

#: nodes (far records and gone notes) a node keeps: far above a venue's devices (issue 18: 30-60
#: registers, 200 in the simulation), and half the node ids one heartbeat may list, so the relay's
#: summary to the console (every node it knows, direct or far) is never refused for its size
MAX_FAR_NODES = MAX_JSON_DOCS // 2
#: (device, cause) pairs logged; past it every refusal is only counted
MAX_LOGGED = 256

K = TypeVar("K")
V = TypeVar("V")


def bounded(
    kept: dict[K, V], claimed: dict[K, V], limit: int, wanted: Callable[[K], bool]
) -> tuple[dict[K, V], int]:
    """What of ``claimed`` to merge into ``kept`` so that ``kept`` stays within ``limit`` keys, and how
    many new keys were refused. A key already kept is always taken; a new one while there is room; a
    new one ``wanted`` (this node holds or knows it) takes the place of one kept that is not wanted,
    which is dropped from ``kept`` here. ``wanted`` is asked only once ``kept`` is full."""
    taken: dict[K, V] = {}
    room = limit - len(kept)
    refused = 0
    spare: list[K] | None = None  # kept keys not wanted, found once the table is full
    for key, value in claimed.items():
        if key in kept or key in taken:
            taken[key] = value
        elif room > 0:
            taken[key] = value
            room -= 1
        elif wanted(key):
            if spare is None:
                spare = [k for k in kept if not wanted(k)]
            if spare:
                del kept[spare.pop()]
                taken[key] = value
            else:
                refused += 1
        else:
            refused += 1
    return taken, refused


class ClaimRefusals:
    """Claims refused for a bound, counted per cause; logged once per (device, cause), at most
    :data:`MAX_LOGGED` pairs (the device controls how many it sends)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._logged: set[tuple[str, str]] = set()

    def refuse(self, node: str, cause: str, what: str, count: int = 1) -> None:
        """``count`` claims of ``node`` refused for ``cause`` (a counter name), ``what`` says which."""
        if count <= 0:
            return
        self.counts[cause] = self.counts.get(cause, 0) + count
        key = (node, cause)
        if key in self._logged or len(self._logged) >= MAX_LOGGED:
            log.debug("refused %d claims (%s) from %s: %s", count, cause, node, what)
            return
        self._logged.add(key)
        log.warning(
            "refused %d claims from %s: %s (%s; more like it are counted, not logged)",
            count,
            node,
            what,
            cause,
        )
