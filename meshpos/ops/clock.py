"""How far this device's clock is from another's, read from an HTTP ``Date`` header, and how it is said.

A register dates every receipt, shift and business day by its own clock: one set hours wrong (a dead
clock battery, a tablet set by hand) files its sales under the wrong day in every report, and nobody at
the till sees it. ``meshpos doctor`` compares the clock with the console's and the peers' once; a running
register compares it with the console's on every probe of its uplink (``relay/link.probe_console``) and
its status says so (``NodeStatus.clock``). The thresholds and the words are here, once.
"""

from __future__ import annotations

import contextlib
import email.utils
from collections.abc import Iterable

CLOCK_WARNING_S = 10.0  # Date headers have whole seconds: less is noise
CLOCK_PROBLEM_S = 120.0  # receipts, shifts and the business day carry this device's time


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


def skew_words(skew: float, who: str) -> str:
    """``skew`` (``who``'s clock minus ours) as a person reads it: "this device's clock is 3 h 12 min
    behind the console's"."""
    way = "behind" if skew > 0 else "ahead of"
    return f"this device's clock is {_amount(abs(skew))} {way} {who}'s"


CLOCK_HARM = "receipts and shifts carry wrong times"
CLOCK_FIX = "set the clock and enable NTP (timedatectl set-ntp true)"


def clock_problem(skew: float | None, who: str) -> str:
    """What a status says of a clock ``skew`` seconds off ``who``'s (empty: nothing known wrong)."""
    if skew is None or abs(skew) < CLOCK_PROBLEM_S:
        return ""
    return f"{skew_words(skew, who)}: {CLOCK_HARM}; {CLOCK_FIX}"


def _amount(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"
