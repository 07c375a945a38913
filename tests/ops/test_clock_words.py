"""The clock comparison reads whatever a far end puts in its ``Date`` header (ops/clock.py): a hostile
or broken one compares as nothing or as what it says, never raises, and the words stay readable."""

from __future__ import annotations

import pytest

from meshpos.ops.clock import CLOCK_PROBLEM_S, clock_problem, date_skew, header_lines, skew_words

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
    assert clock_problem(skew, "the console") == ""


def test_far_dates_are_said_in_days_and_near_ones_not_at_all() -> None:
    far = date_skew([("date", " Fri, 31 Dec 9999 23:59:59 GMT")], AT, AT)
    assert far is not None
    assert clock_problem(far, "the console").startswith(
        "this device's clock is 2912479 days behind the console's: receipts and shifts carry wrong"
    )
    near = date_skew(header_lines("HTTP/1.1 200 OK\r\nDate: Tue, 25 Nov 2025 10:01:00 GMT"), AT, AT)
    assert near is not None
    assert near == pytest.approx(60.5)
    assert clock_problem(near, "the console") == ""  # under CLOCK_PROBLEM_S: said by doctor only
    assert near < CLOCK_PROBLEM_S
    assert (
        skew_words(-3 * 3600 - 12 * 60, "R2") == "this device's clock is 3 h 12 min ahead of R2's"
    )
    assert date_skew(header_lines("HTTP/1.1 200 OK\r\nServer: x"), AT, AT) is None
