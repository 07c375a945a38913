"""Reports -> the drawer's "no sale" openings (issue 17): who opened it with no sale, when, on which register
and shift, why, and who approved it. Beside ``api_manager``'s reports, with their
range and CSV export (``report_range``)."""

from __future__ import annotations

from typing import Any

from meshpos.console import manager_reports as q
from meshpos.console.calls import ConsoleCall
from meshpos.console.report_range import answer, catalog_names, report_days, report_route
from meshpos.httpapi.routes import Route

NO_SALE_COLUMNS = ("at_ms", "register", "cashier", "approved_by_name", "reason", "shift_id", "id")


async def no_sales_report(c: ConsoleCall) -> Any:
    days = report_days(c)
    rows = await c.console.db.report(lambda cur: q.no_sales(cur, c.venue, days))
    names = await catalog_names(c)
    for row in rows:
        row["cashier"] = names.user(row["user_id"])
        row["approved_by_name"] = names.user(row["approved_by"]) if row["approved_by"] else ""
    return answer(c, rows, NO_SALE_COLUMNS, "no-sales")


DRAWER_ROUTES: tuple[Route, ...] = (
    report_route(
        "no-sales",
        no_sales_report,
        'The drawer\'s "no sale" openings on the days (who, when, register, shift, why)',
        list[dict[str, Any]],
    ),
)
