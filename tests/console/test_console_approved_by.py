"""Who approved a refund or a void, at the console: schema 6 adds ``refunds.approved_by`` without changing the
digests of the refunds a schema-5 console stored (issue 17). A 623a0ca console stored every refund
without it, also the refunds whose ledger record names an approver: those are filled in once, and no
old row raises a ``changed_record`` alarm. Once stored, a changed approver is an alarm like any change.
A void's detail (who, why, who approved) is a mutable column of the order: filled in like any change."""

from __future__ import annotations

import json
from typing import Any

from pycrdt import Doc, Map

from meshpos.console import ConsoleDB, hash_token, manager_reports, new_venue_token, open_console_db
from meshpos.console.manager_reports import Days
from meshpos.console.materialise import ledger_rows, materialise
from meshpos.model import CorruptRegistry, Ledger
from meshpos.model.sample import CASHIER, MANAGER

from .conftest import VENUE
from .day import DATE, LEDGER, NOW, ledger_doc, simulate_day
from .test_console_shared import _as_schema

VOIDED_AT = NOW + 202


def _approved_day() -> Doc[Any]:
    """The simulated day, plus a cashier's refund and void a manager approved on R2."""
    _, r2 = simulate_day()
    receipt = next(r for r in r2.ledger(DATE).receipts() if r.register == "R2")
    r2.refund(CASHIER, receipt.id, NOW + 200, reason="spilt", approved_by=MANAGER)
    order = r2.open_order(CASHIER, NOW + 201, table="3")
    r2.add_line(CASHIER, order.id, "espresso", 1, NOW + 201)
    r2.void_order(CASHIER, order.id, VOIDED_AT, "guest left", approved_by=MANAGER)
    return ledger_doc(r2)


APPROVED_VOID = {
    "voided_by": CASHIER,
    "reason": "guest left",
    "approved_by": MANAGER,
    "table": "3",
}


async def _voids(db: ConsoleDB) -> list[dict[str, Any]]:
    found = await db.report(lambda cur: manager_reports.voids(cur, VENUE, Days(DATE, DATE)))
    return [{k: v[k] for k in (*APPROVED_VOID, "id")} for v in found]


def _retouched(doc: Doc[Any], refund_id: str, **fields: str) -> Doc[Any]:
    """A copy of ``doc`` with fields of one refund record overwritten (a peer rewriting it)."""
    copy: Doc[Any] = Doc()
    copy.apply_update(doc.get_update())
    refunds = copy.get("refunds", type=Map)
    record = json.loads(refunds[refund_id])
    refunds[refund_id] = json.dumps(record | fields)
    return copy


async def test_old_refunds_keep_their_digests_and_get_their_approver(db_url: str) -> None:
    doc = _approved_day()
    rows = ledger_rows(Ledger.snapshot(doc, DATE, corrupt=CorruptRegistry())).rows["refunds"]
    approved = next(r for r in rows if r.fixed["approved_by"] == MANAGER)
    plain = [r for r in rows if r is not approved]
    assert plain
    assert all(r.fixed["approved_by"] == "" for r in plain)

    db = await open_console_db(db_url)
    await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
    await materialise(db, VENUE, LEDGER, doc)
    await db.close()
    # what a schema-5 console stored: every refund's digest without an approver (it had no column)
    _as_schema(
        db_url,
        5,
        [f"UPDATE refunds SET digest = '{r.legacy_digest}' WHERE id = '{r.id}'" for r in rows],
    )

    db = await open_console_db(db_url)
    try:
        before = {r["id"]: r for r in await db.records(VENUE, "refunds")}
        assert {r["approved_by"] for r in before.values()} == {None}  # not known yet
        assert before[approved.id]["digest"] != approved.digest
        assert all(before[r.id]["digest"] == r.digest for r in plain)  # unchanged by design

        again = await materialise(db, VENUE, LEDGER, doc)
        assert again.alarms == ()
        assert again.tables["refunds"].updated == len(rows)  # each filled once
        after = {r["id"]: r for r in await db.records(VENUE, "refunds")}
        assert after[approved.id]["approved_by"] == MANAGER
        assert all(after[r.id]["approved_by"] == "" for r in plain)
        assert all(after[r.id]["digest"] == before[r.id]["digest"] for r in plain)
        assert await db.alarms(VENUE) == []
        assert len(await db.records(VENUE, "no_sales")) == 1  # the day's no-sale, in the new table
        voids = await _voids(db)  # orders' void detail (a mutable column) filled in too
        assert [{k: v[k] for k in APPROVED_VOID} for v in voids if v["table"] == "3"] == [
            APPROVED_VOID
        ]
        assert not (await materialise(db, VENUE, LEDGER, doc)).changed

        # filled in, the approver is part of the record: a peer changing it, or adding one to a
        # refund that had none, is an alarm and overwrites nothing
        forged = _retouched(doc, approved.id, approved_by=CASHIER)
        forged = _retouched(forged, plain[0].id, approved_by=MANAGER)
        refused = await materialise(db, VENUE, LEDGER, forged)
        assert sorted(a.record_id for a in refused.alarms if a.kind == "changed_record") == sorted(
            [approved.id, plain[0].id]
        )
        assert {r["id"]: r["approved_by"] for r in await db.records(VENUE, "refunds")} == {
            r["id"]: r["approved_by"] for r in after.values()
        }
    finally:
        await db.close()


async def test_a_new_refund_names_its_approver_at_once(db_url: str) -> None:
    doc = _approved_day()
    db = await open_console_db(db_url)
    try:
        await db.add_venue(VENUE, "Café Mesh", hash_token(new_venue_token()))
        await materialise(db, VENUE, LEDGER, doc)
        stored = {r["approved_by"] for r in await db.records(VENUE, "refunds")}
        assert stored == {"", MANAGER}
        voids = {v["table"]: v for v in await _voids(db)}
        assert {k: voids["3"][k] for k in APPROVED_VOID} == APPROVED_VOID
        [detail] = json.loads(
            next(o for o in await db.records(VENUE, "orders") if o["id"] == voids["3"]["id"])[
                "void_detail"
            ]
        )
        assert detail == {
            "line_id": "",
            "user": CASHIER,
            "at_ms": VOIDED_AT,
            "reason": "guest left",
            "approved_by": MANAGER,
        }
    finally:
        await db.close()
