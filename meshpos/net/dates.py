"""The far end's clock against ours, from an HTTP ``Date`` header: how ``meshpos/ops/clock.py`` knows it.

Here, below the network code that reads the headers (the console's answers, the mesh's upgrades), so the
network layer does not import the operations layer that words the result.
"""

from __future__ import annotations

import contextlib
import email.utils
from collections.abc import Iterable


def date_skew(
    headers: Iterable[tuple[str, str]], sent_at: float, received_at: float
) -> float | None:
    """The far end's clock minus ours, in seconds, from its ``Date`` header (None without a readable
    one): its second against the middle of our request, +-1 s of resolution."""
    for name, value in headers:
        if name.strip().lower() == "date":
            with contextlib.suppress(TypeError, ValueError, IndexError):
                their = email.utils.parsedate_to_datetime(value.strip()).timestamp() + 0.5
                return their - (sent_at + received_at) / 2
    return None


def header_lines(head: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of an HTTP answer's head (its status line left out)."""
    pairs = []
    for line in head.split("\r\n")[1:]:
        name, colon, value = line.partition(":")
        if colon:
            pairs.append((name, value))
    return pairs
