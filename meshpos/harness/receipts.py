"""A running node's receipts of the day, read page by page through its local API: what the chaos run's
reconciliation and the month-three bench both count (the tools share the harness, not each other)."""

from __future__ import annotations

from typing import Any

from meshpos.harness.procs import Proc
from meshpos.web.orders import MAX_PAGE


async def todays_receipts(proc: Proc) -> list[dict[str, Any]] | None:
    """Every receipt of the node's current business day (a chaos run stays within one), or None if
    the node did not answer."""
    found: list[dict[str, Any]] = []
    before = ""
    while True:
        listed = await proc.call(
            "GET", f"/api/receipts?limit={MAX_PAGE}&before={before}", timeout=30
        )
        if not listed.ok:
            return None
        page: list[dict[str, Any]] = listed.json()
        found += page
        if len(page) < MAX_PAGE:
            return found
        before = page[-1]["id"]
