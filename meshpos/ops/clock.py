"""How far this device's clock is from another's, and how it is said (the far end's clock is read from its
HTTP ``Date`` header by ``meshpos/net/dates.py``).

A register dates every receipt, shift and business day by its own clock: one set hours wrong (a dead
clock battery, a tablet set by hand) files its sales under the wrong day in every report, and nobody at
the till sees it. ``meshpos doctor`` compares the clock with the console's and the peers' once; a running
register compares it with the console's on every probe of its uplink (``relay/link.probe_console``) and
with each peer's whenever a mesh link opens (the upgrade's ``Date`` headers, both ways:
``net/wsconn.py``), and its status says so (``NodeStatus.clock``): against the console's when it has
read it, else when most of its linked peers agree it is the odd one out (:func:`peers_problem`). The
thresholds and the words are here, once.

**Changed** (outside round 5, outside): a clock days behind compared with nothing: a device's own
certificate and every other's is not valid yet by it (issued within a day of its enrollment), so every
link fails and no clock is read over one; the register sold alone, gray, and nothing said why. The
device's own certificate says when it was issued, so a clock before that is said without a link
(:func:`certificate_problem`), and one past its end too (tests/outside/test_clock_years_behind.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from statistics import median

CLOCK_WARNING_S = 10.0  # Date headers have whole seconds: less is noise
CLOCK_PROBLEM_S = 120.0  # receipts, shifts and the business day carry this device's time


def skew_words(skew: float, whose: str) -> str:
    """``skew`` (their clock minus ours; ``whose``: "the console's", "R2's") as a person reads it:
    "this device's clock is 3 h 12 min behind the console's"."""
    way = "behind" if skew > 0 else "ahead of"
    return f"this device's clock is {_amount(abs(skew))} {way} {whose}"


def possessive(names: Iterable[str]) -> str:
    """ "R1's", "R1's and R2's", "R1's, R2's and R3's" (sorted)."""
    each = [f"{name}'s" for name in sorted(names)]
    return each[0] if len(each) == 1 else f"{', '.join(each[:-1])} and {each[-1]}"


CLOCK_HARM = "receipts and shifts carry wrong times"
CLOCK_FIX = "set the clock and enable NTP (timedatectl set-ntp true)"


def clock_problem(skew: float | None, whose: str) -> str:
    """What a status says of a clock ``skew`` seconds off ``whose`` (empty: nothing known wrong)."""
    if skew is None or abs(skew) < CLOCK_PROBLEM_S:
        return ""
    return f"{skew_words(skew, whose)}: {CLOCK_HARM}; {CLOCK_FIX}"


def certificate_problem(now: float, valid: tuple[float, float] | None) -> str:
    """What a status says of this clock (``now``, epoch seconds) against the window its own
    certificate and the venue CA's are valid in (``valid``: from, until): outside it no TLS link can
    open, either way, so no other clock is read to compare (empty: inside, or no window known)."""
    if valid is None:
        return ""
    start, end = valid
    if now < start:
        return (
            f"this device's clock is at least {_amount(start - now)} behind: it is before its "
            f"certificate was issued ({_day(start)}), so no device or console can link with it; "
            f"{CLOCK_HARM}; {CLOCK_FIX}"
        )
    if now > end:
        return (
            f"this device's certificate ended on {_day(end)} by its clock, so no device or console "
            f"can link with it: if the clock is ahead, {CLOCK_FIX}; else enroll the device again"
        )
    return ""


#: a certificate (the device's or the venue CA's) ending sooner is said in the status and by the doctor
CERT_WARNING_DAYS = 30
#: what an operator does about it (the doctor's and the status's words)
ENROLL_AGAIN = (
    "on the back-office PC run meshpos pair --reissue for this device and meshpos enroll here"
)


def certificate_ending(now: float, valid: tuple[float, float] | None) -> str:
    """What a status says of a certificate ending within ``CERT_WARNING_DAYS`` (``valid``: the window
    the device's own certificate and the venue CA's are valid in, :func:`certificate_problem`); empty
    when not. **Changed** (outside2, the twenty-first session): a register said nothing of its
    certificate until it had ended and no link opened; only ``meshpos doctor``, which a cashier never
    runs, warned 30 days ahead."""
    if valid is None or not valid[0] <= now <= valid[1]:
        return ""  # (outside the window: certificate_problem says it)
    left = valid[1] - now
    if left >= CERT_WARNING_DAYS * 86_400:
        return ""
    return (
        f"this device's certificate ends on {_day(valid[1])}, in {_amount(left)}: then no device or "
        f"console links with it; {ENROLL_AGAIN} before then"
    )


def _day(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).date().isoformat()


def peers_problem(readings: Mapping[str, float]) -> str:
    """What a status says of this clock against its linked peers' (device -> their clock minus ours):
    a problem only when more than half of them are off by ``CLOCK_PROBLEM_S`` the same way, so the
    device that warns is the odd one out (with one peer both warn: either may be wrong). A peer's
    ``Date`` is its word, so a lying peer can only add a warning, and only with the majority."""
    for way in (1, -1):
        off = {name: s for name, s in readings.items() if s * way >= CLOCK_PROBLEM_S}
        if 2 * len(off) > len(readings):
            return clock_problem(median(off.values()), possessive(off))
    return ""


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
