"""Found from the outside: the register's reads of a business day (``?date=`` on receipts, receipt search,
no-sales, kitchen tickets, a shift's report) took the 31st of February and answered ``200 []``: "no
receipts that day" for a day that does not exist, where the console says ``not a day of the calendar``. And
a query parameter given twice (``?limit=1&limit=1000``, ``?by=hour&by=product``) was taken with its last
value, silently, on both APIs. A day not on the calendar is now 422 ``bad_range`` (a value the
schema takes that breaks a rule, as the console says it), a parameter given twice 400 ``bad_field``."""

from __future__ import annotations

from pathlib import Path

from meshpos.localapi import Answer, LocalApi
from tests.web.kit import register_with_open_shift

from ..mesh.kit import ConsoleProcess, make_venue

NOT_DAYS = ("2026-02-31", "2026-02-29", "2026-04-31")  # 2026 is no leap year
DAY_READS = (
    "/api/receipts?date={}",
    "/api/receipt-search?number=R1&date={}",
    "/api/no-sales?date={}",
    "/api/kitchen/tickets?date={}",
)


def _refused(
    api: LocalApi, path: str, name: str, words: str, status: int = 400, code: str = "bad_field"
) -> None:
    answer: Answer = api.request("GET", path)
    assert (answer.status, answer.error[0]) == (status, code), (path, answer.status, answer.body)
    message = answer.error[1]
    assert f"query parameter {name!r}" in message, (path, message)
    assert words in message, (path, message)


def test_the_register_refuses_a_day_that_is_not_in_the_calendar(tmp_path: Path) -> None:
    with register_with_open_shift(tmp_path) as node:
        shift = node.call("GET", "/api/shifts/current")["shift"]["id"]
        for day in NOT_DAYS:
            for read in (*DAY_READS, f"/api/shifts/{shift}/report?date={{}}"):
                _refused(
                    node.client, read.format(day), "date", "not a day of the calendar",
                    422, "bad_range",
                )  # fmt: skip
        for read in DAY_READS:  # a real day, a leap day among them, still reads
            assert node.client.request("GET", read.format("2028-02-29")).status == 200
        assert node.call("GET", "/api/receipts") == []  # and no date at all is today's
        _refused(node.client, "/api/receipts?limit=1&limit=1000", "limit", "given 2 times")


def test_the_console_refuses_a_query_parameter_given_twice(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory]).start()
    try:
        sales = f"/api/venues/{authority.venue_id}/reports/sales?from=2026-12-01&to=2026-12-06"
        assert console.client.request("GET", f"{sales}&by=hour").status == 200
        _refused(console.client, f"{sales}&by=hour&by=product", "by", "given 2 times")
    finally:
        console.stop()
