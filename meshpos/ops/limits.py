"""What the servers a LAN outsider can reach share when they bound what it may hold: a bound on
connections that leaves the process the file descriptors it needs, and a warning at most once a minute
(the outsider controls the volume; the line carries counts since the last one).

Used by the HTTP servers (``httpapi/slots.py``) and the pairing server (``trust/pairing_slots.py``).
"""

from __future__ import annotations

import math
import resource
import time

LOG_EVERY = 60.0  # seconds between two lines of counts


def descriptor_bound(most: int, least: int) -> int:
    """``most``, or a quarter of the process's file descriptors when that is fewer (its database, its
    peers and its logs need the rest), never under ``least``."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return most
    return max(least, min(most, soft // 4))


class EveryMinute:
    """Whether a line of counts is due: at most one per :data:`LOG_EVERY` seconds."""

    def __init__(self) -> None:
        self._logged = -math.inf

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._logged < LOG_EVERY:
            return False
        self._logged = now
        return True
