"""The clock comparison reads whatever a far end puts in its ``Date`` header (ops/clock.py): a hostile
or broken one compares as nothing or as what it says, never raises, and the words stay readable."""

from __future__ import annotations

import pytest

from meshpos.net.dates import date_skew, header_lines
from meshpos.ops.clock import (
    CLOCK_PROBLEM_S,
    certificate_problem,
    clock_problem,
    peers_problem,
    skew_words,
)

AT = 1_764_064_800.0  # 2025-11-25 10:00:00 UTC


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "Fri, 31 Dec 99999 23:59:59 GMT",  # past datetime's range
        "Thu, 01 Jan 1970 00:00:00 -9999",  # an offset past a day
        "\udcff",
        "Tue, 25 Nov 2025 10:00:00",  # no zone
    ],
)
def test_a_date_that_is_not_one_compares_as_nothing(value: str) -> None:
    skew = date_skew([("Date", value)], AT, AT)
    assert skew is None or abs(skew) < 1  # (a date without a zone is read as UTC)
    assert clock_problem(skew, "the console's") == ""


def test_far_dates_are_said_in_days_and_near_ones_not_at_all() -> None:
    far = date_skew([("date", " Fri, 31 Dec 9999 23:59:59 GMT")], AT, AT)
    assert far is not None
    assert clock_problem(far, "the console's").startswith(
        "this device's clock is 2912479 days behind the console's: receipts and shifts carry wrong"
    )
    near = date_skew(header_lines("HTTP/1.1 200 OK\r\nDate: Tue, 25 Nov 2025 10:01:00 GMT"), AT, AT)
    assert near is not None
    assert near == pytest.approx(60.5)
    assert clock_problem(near, "the console's") == ""  # under CLOCK_PROBLEM_S: said by doctor only
    assert near < CLOCK_PROBLEM_S
    assert (
        skew_words(-3 * 3600 - 12 * 60, "R2's") == "this device's clock is 3 h 12 min ahead of R2's"
    )
    assert date_skew(header_lines("HTTP/1.1 200 OK\r\nServer: x"), AT, AT) is None


def test_the_peers_say_a_clock_is_wrong_only_when_most_of_them_agree() -> None:
    hours = 3 * 3600.0
    assert peers_problem({}) == ""
    assert peers_problem({"R1": 0.4, "R2": -0.6}) == ""
    # the odd one out, seen from R3: its two peers agree it is behind
    assert peers_problem({"R1": hours, "R2": hours + 2}).startswith(
        "this device's clock is 3 h behind R1's and R2's: receipts and shifts carry wrong times"
    )
    # seen from R1: only R3 of its two peers is off, so R1's own clock is not the one said wrong
    assert peers_problem({"R2": 1.0, "R3": -hours}) == ""
    # one peer: either may be wrong, so both say it
    assert peers_problem({"R2": -hours}).startswith("this device's clock is 3 h ahead of R2's")
    # off both ways: no side has most of them
    assert peers_problem({"R1": hours, "R2": -hours}) == ""
    # three of four behind: the three named, their median said
    words = peers_problem({"R1": hours, "R2": hours + 600, "R4": hours + 60, "R5": 0.0})
    assert words.startswith("this device's clock is 3 h 1 min behind R1's, R2's and R4's")
    # a lying peer alone moves nothing while the others agree with this clock
    assert peers_problem({"R1": 0.0, "R2": 0.0, "X": 10 * hours}) == ""


def test_a_clock_outside_the_certificates_window_is_said_without_a_link() -> None:
    """(outside round 5) A clock before the device's certificate was issued, or past its end, links
    with nothing, so it is named from the certificate alone; inside the window, or with no window
    known, nothing is said (the console's and the peers' clocks judge)."""
    day = 86_400.0
    window = (AT, AT + 5 * 365 * day)
    behind = certificate_problem(AT - 1100 * day, window)
    assert behind.startswith("this device's clock is at least 1100 days behind: it is before its ")
    assert "certificate was issued (2025-11-25)" in behind
    ended = certificate_problem(AT + 6 * 365 * day, window)
    assert ended.startswith("this device's certificate ended on 2030-11-24 by its clock"), ended
    assert ended.endswith("else enroll the device again"), ended
    assert certificate_problem(AT + day, window) == ""
    assert certificate_problem(AT - 1100 * day, None) == ""
