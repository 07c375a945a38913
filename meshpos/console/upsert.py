"""Writing one ledger day's rows: insert new records, update mutable ones, alarm on changed ones.

Runs inside the caller's transaction. Existing rows are found by id and compared by digest, so a
repeated materialisation reads a few columns and writes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from meshpos.console.cursor import Cursor
from meshpos.console.records import Alarm, MaterialiseResult, RecordBatch, Row, TableCounts
from meshpos.console.tables import RECORD_TABLES, ChildTable, RecordTable

DUPLICATE_NUMBER = "duplicate_number"
"""The alarm kind of two receipts (different ids) of one venue with one receipt number."""


async def write_batch(
    cur: Cursor, venue_id: str, batch: RecordBatch, seen: int
) -> MaterialiseResult:
    alarms: list[Alarm] = []
    counts = {}
    inserted: list[Row] = []
    for table in RECORD_TABLES:
        rows = batch.rows.get(table.name, ())
        fresh = inserted if table.name == "receipts" else None
        counts[table.name] = await _upsert(
            cur, venue_id, table, rows, batch.document, seen, alarms, fresh
        )
    alarms += await _duplicate_numbers(cur, venue_id, inserted, batch.document, seen)
    for c in batch.conflicts:
        conflict = Alarm(
            venue_id=venue_id,
            kind=c.kind,
            table="orders",
            record_id=c.order_id,
            old_digest="",
            new_digest="",
            document=batch.document,
            detail=c.detail,
            first_seen_ms=seen,
            new=True,
        )
        alarms.append(await _alarm(cur, conflict))
    return MaterialiseResult(venue_id, batch.document, counts, tuple(alarms))


def _late(table: RecordTable) -> list[str]:
    return [c.name for c in table.fixed if c.late]


async def _existing(
    cur: Cursor, venue_id: str, table: RecordTable, ids: list[str]
) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """Stored rows' (digest, state digest) by id, and the ids of rows stored before the table's
    late columns existed (all of them NULL: ``Column.late``)."""
    late = _late(table)
    before = f", {' AND '.join(f'{c} IS NULL' for c in late)}" if late else ""
    rows = await cur.fetch_in(
        f"SELECT id, digest, state_digest{before} FROM {table.name} WHERE venue_id = ? AND id {{in}}",
        (venue_id,),
        ids,
    )
    found = {str(row[0]): (str(row[1]), str(row[2])) for row in rows}
    return found, {str(row[0]) for row in rows if late and row[3]}


async def _upsert(
    cur: Cursor,
    venue_id: str,
    table: RecordTable,
    rows: Sequence[Row],
    document: str,
    seen: int,
    alarms: list[Alarm],
    inserted: list[Row] | None = None,
) -> TableCounts:
    existing, older = await _existing(cur, venue_id, table, [r.id for r in rows])
    fresh: list[Row] = []
    changed: list[Row] = []
    filled: list[Row] = []
    unchanged = alarmed = 0
    for row in rows:
        old = existing.get(row.id)
        if old is None:
            fresh.append(row)
            existing[row.id] = (
                row.digest,
                row.state_digest,
            )  # a repeat in this batch compares to it
            continue
        fill = row.id in older and old[0] == row.legacy_digest
        if fill:
            # stored before its late columns existed, and the same record in every other column:
            # they are filled in once (empty ones too, so a later change of them is an alarm)
            filled.append(row)
            older.discard(row.id)
            existing[row.id] = old = (row.digest, old[1])
        if old[0] != row.digest:
            alarmed += 1
            alarms.append(
                await _alarm(
                    cur,
                    Alarm(
                        venue_id=venue_id,
                        kind="changed_record",
                        table=table.name,
                        record_id=row.id,
                        old_digest=old[0],
                        new_digest=row.digest,
                        document=document,
                        detail=row.content(),
                        first_seen_ms=seen,
                        new=True,
                    ),
                )
            )
        if table.mutable and old[1] != row.state_digest:
            changed.append(row)
            existing[row.id] = (old[0], row.state_digest)
        elif old[0] == row.digest and not fill:
            unchanged += 1
    if inserted is not None:
        inserted += fresh
    state = [c.name for c in table.mutable]
    if fresh:
        await cur.insert_many(table.name, columns(table), table_rows(table, venue_id, fresh, seen))
        for child in table.children:
            await cur.insert_many(
                child.name, child_columns(child), child_rows(child, venue_id, fresh)
            )
    if filled:
        late = _late(table)
        sets = ", ".join(f"{c} = ?" for c in [*late, "digest"])
        await cur.executemany(
            f"UPDATE {table.name} SET {sets} WHERE venue_id = ? AND id = ?",
            [(*map(r.fixed.get, late), r.digest, venue_id, r.id) for r in filled],
        )
    if changed:
        sets = ", ".join(f"{c} = ?" for c in [*state, "state_digest"])
        await cur.executemany(
            f"UPDATE {table.name} SET {sets} WHERE venue_id = ? AND id = ?",
            [(*map(r.state.get, state), r.state_digest, venue_id, r.id) for r in changed],
        )
    return TableCounts(len(fresh), len(changed) + len(filled), unchanged, alarmed)


def columns(table: RecordTable) -> list[str]:
    """A record table's columns, in the order :func:`table_rows` gives the values."""
    fixed = [c.name for c in table.fixed]
    state = [c.name for c in table.mutable]
    return ["venue_id", "id", *fixed, *state, "digest", "state_digest", "seen_at_ms"]


def table_rows(
    table: RecordTable, venue_id: str, rows: Sequence[Row], seen: int
) -> list[tuple[object, ...]]:
    """The values of new rows of one table (also what a benchmark's fixture bulk-loads)."""
    fixed = [c.name for c in table.fixed]
    state = [c.name for c in table.mutable]
    return [
        (
            venue_id,
            r.id,
            *map(r.fixed.__getitem__, fixed),
            *map(r.state.get, state),
            r.digest,
            r.state_digest,
            seen,
        )
        for r in rows
    ]


def child_columns(child: ChildTable) -> list[str]:
    return ["venue_id", child.parent_key, *(c.name for c in child.columns)]


def child_rows(child: ChildTable, venue_id: str, rows: Sequence[Row]) -> list[tuple[object, ...]]:
    names = [c.name for c in child.columns]
    return [
        (venue_id, r.id, *map(line.__getitem__, names))
        for r in rows
        for line in r.children.get(child.name, ())
    ]


async def _duplicate_numbers(
    cur: Cursor, venue_id: str, receipts: Sequence[Row], document: str, seen: int
) -> list[Alarm]:
    """One alarm for each newly stored receipt whose number an earlier receipt of the venue already
    has (a register that lost its numbering: a wiped, re-enrolled or restored device). The first
    receipt stored with a number keeps it; each later one is the alarm's record."""
    if not receipts:
        return []
    fresh = {r.id for r in receipts}
    holders = await cur.fetch_in(
        "SELECT number, id, business_date, register, seen_at_ms FROM receipts "
        "WHERE venue_id = ? AND number {in}",
        (venue_id,),
        sorted({str(r.fixed["number"]) for r in receipts}),
    )
    by_number: dict[str, list[tuple[int, str, str, str]]] = {}
    for number, rid, day, register, at in holders:
        by_number.setdefault(str(number), []).append((int(at), str(rid), str(day), str(register)))
    alarms = []
    for number, found in sorted(by_number.items()):
        if len(found) < 2:
            continue
        found.sort()
        listed = ", ".join(f"{rid} ({day}, register {register})" for _, rid, day, register in found)
        for _, rid, _, _ in found[1:]:
            if rid not in fresh:
                continue  # alarmed when it was stored
            alarms.append(
                await _alarm(
                    cur,
                    Alarm(
                        venue_id=venue_id,
                        kind=DUPLICATE_NUMBER,
                        table="receipts",
                        record_id=rid,
                        old_digest="",
                        new_digest="",
                        document=document,
                        detail=f"receipt number {number} is on {len(found)} receipts: {listed}",
                        first_seen_ms=seen,
                        new=True,
                    ),
                )
            )
    return alarms


async def _alarm(cur: Cursor, alarm: Alarm) -> Alarm:
    """Record it once (first sighting wins); report it every time it is seen."""
    inserted = await cur.execute(
        "INSERT INTO alarms (venue_id, kind, table_name, record_id, old_digest, new_digest, "
        "document, detail, first_seen_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (
            alarm.venue_id,
            alarm.kind,
            alarm.table,
            alarm.record_id,
            alarm.old_digest,
            alarm.new_digest,
            alarm.document,
            alarm.detail,
            alarm.first_seen_ms,
        ),
    )
    if inserted:
        return alarm
    rows = await cur.fetchall(
        "SELECT first_seen_ms, detail FROM alarms WHERE venue_id = ? AND kind = ? "
        "AND table_name = ? AND record_id = ? AND new_digest = ?",
        (alarm.venue_id, alarm.kind, alarm.table, alarm.record_id, alarm.new_digest),
    )
    first_seen, detail = rows[0]
    return dataclasses.replace(alarm, detail=str(detail), first_seen_ms=int(first_seen), new=False)
