"""The drawer's "no sale" openings as a ledger record: its parser and spec (``records.LEDGER_RECORDS`` lists
it with the money records; see :mod:`meshpos.model.records` for what a spec is)."""

from __future__ import annotations

from meshpos.model.ledger_types import NoSale
from meshpos.model.record_spec import RecordSource, RecordSpec, col


def parse_no_sale(src: RecordSource, no_sale_id: str) -> NoSale:
    f = src.record("no_sales", no_sale_id)
    return NoSale(
        no_sale_id,
        f.text("shift_id"),
        f.text("register"),
        f.text("user"),
        f.integer("at"),
        f.opt_text("reason") or "",
        f.opt_text("approved_by") or "",
    )


NO_SALES: RecordSpec[NoSale] = RecordSpec(
    "no_sales",
    "no_sales",
    parse_no_sale,
    lambda n: (n.at_ms, n.id),
    fixed=(
        col("shift_id"),
        col("register"),
        col("user_id", attr="user"),
        col("at_ms", "int"),
        col("reason"),
        col("approved_by"),
    ),
    indexes=("shift_id", "business_date"),
    device="register",
    # no tally kind: a 623a0ca console never reports no-sales, so a register counting them as owed
    # would stay yellow against it (CONTRACT_S3 Features); they travel in the day's document anyway
)
