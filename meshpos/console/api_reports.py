"""The console's report routes: sync status, the records as materialised (receipts, shifts, totals,
records, alarms) and, from ``api_manager``, the reports a manager reads (``MANAGER_ROUTES``).

Reports come from the relational tables (what was materialised); sync status from the live hubs and the
database, so no venue loads for a report (docs/architecture.md (Relay and console)).

**Changed** (shifts, the twenty-first session): the status's ``registers`` say ``shift_open_since``, a
register's shift open past its business day (``console/open_shifts.py``).
**Changed** (the twenty-second session): the status's ``signing`` says the console's signing key of
the venue: none, valid, ending within 30 days or ended, and what to do (``console_key.signing_state``).
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from meshpos.console import listings
from meshpos.console.api_drawer import DRAWER_ROUTES
from meshpos.console.api_manager import MANAGER_ROUTES
from meshpos.console.calls import VENUE, ConsoleCall, current_venue
from meshpos.console.open_shifts import oldest_open, open_days, open_since
from meshpos.console.records import Alarm
from meshpos.console.server import SHARED_FRESH_S
from meshpos.console.tables import TABLES
from meshpos.console.venue_docs import unreported_summary
from meshpos.httpapi.routes import Field, Route, choice
from meshpos.trust.console_key import signing_state


async def venue_status(c: ConsoleCall) -> dict[str, Any]:
    """From the database (documents, what is not in the reports, the devices every process heard
    of) and, when this process has the venue loaded, its relays' live heartbeats: no hub is loaded
    for it."""
    hub = c.console.hubs.get(c.venue)
    db = c.console.db
    now = time.time()
    unreported = await db.unreported(c.venue)
    summary: dict[str, Any] = {
        "venue": c.venue,
        "loaded": hub is not None,
        "relays": sorted(set(hub.relays.values())) if hub is not None else [],
        "last_seen": dict(hub.last_seen) if hub is not None else {},
        "documents": await db.documents(c.venue),
        "closed_days": sorted(await db.closed_documents(c.venue)),
        "counters": dict(c.console.venue_counters.get(c.venue, {})),
        "rejections": list(hub.rejections[-20:]) if hub is not None else [],
        "not_materialised": unreported_summary(unreported),
        # (issue 18, admit) whether this process checks which device relays (started with the
        # venue's directory) or admits a relay by the venue token alone, a revoked register's too
        "relay_admission": "device proof" if c.venue in c.console.admissions else "token alone",
        # what strict registers take from the console is signed with this key: when it ends they show
        # their sales not at the console, so the manager is told here first
        "signing": signing_state(
            c.console.signers.get(c.venue), datetime.datetime.now(datetime.UTC)
        ),
    }
    summary["last_seen_s"] = {n: round(now - t, 1) for n, t in summary["last_seen"].items()}
    stored = await db.register_report(c.venue)
    shared = await c.console.shared_sightings(c.venue)
    # every device: the relays and what they link to (their heartbeats, here or at another console
    # process), what was heard of before, and every register the database holds records from
    presence = hub.sync.presence if hub is not None else {}
    registers = c.console.device_view(c.venue).report(
        presence, stored, now, shared, SHARED_FRESH_S, await _open_since(c, now)
    )
    summary["registers"] = registers
    for node, device in registers.items():  # relays linked to another console process
        if device["relay"] and device["reachable"] and node in shared:
            summary["last_seen_s"].setdefault(node, round(now - shared[node].heard, 1))
    summary["relays"] = sorted(
        {
            *summary["relays"],
            *(n for n, d in registers.items() if d["relay"] and d["reachable"] and n in shared),
        }
    )
    return summary


async def _open_since(c: ConsoleCall, now: float) -> dict[str, str]:
    """Register -> the day its shift open past its business day opened on (``console/open_shifts``):
    the venue's settings are read only when a shift is open."""
    oldest = oldest_open(await c.console.db.report(lambda cur: open_days(cur, c.venue)))
    if not oldest:
        return {}
    today = (await current_venue(c.console, c.venue)).business_date(int(now * 1000))
    since = {register: open_since(day, today) for register, day in oldest.items()}
    return {register: day for register, day in since.items() if day is not None}


async def _settled(c: ConsoleCall) -> None:
    """What this process received for the venue is in the tables (nothing loads for it)."""
    hub = c.console.hubs.get(c.venue)
    if hub is not None:
        await hub.settle()


async def totals(c: ConsoleCall) -> dict[str, int]:
    await _settled(c)
    return await c.console.db.totals(c.venue)


async def records(c: ConsoleCall) -> list[dict[str, Any]]:
    await _settled(c)
    return await listings.records(c)


async def alarms(c: ConsoleCall) -> list[Alarm]:
    return await c.console.db.alarms(c.venue)


REPORT_ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        f"{VENUE}/status",
        venue_status,
        "Sync status of the venue and of every device",
        dict[str, Any],
        tag="reports",
        description="`relays`, `last_seen_s`, `documents` (`closed_days`: those out of memory), `counters`, `rejections`, `relay_admission` "
        "(`device proof`, or `token alone`: started without the venue's directory), and `registers`: one entry per device of the venue the console knows of (docs/api.md); a register's "
        "`shift_open_since` is the business day its oldest open shift opened on when that is before "
        "the venue's business day now (the shift is open past its day: close it), else null. "
        "`signing`: the console's signing key of the venue, `state` `none`, `valid`, `ending` (within "
        "30 days) or `ended`, `ends` (ISO time) and `says` (what to do; empty while valid): strict "
        "registers take only what it signs, so once it ends they show their sales not at the console.",
    ),
    Route(
        "GET",
        f"{VENUE}/receipts",
        listings.receipts,
        "Receipts, with what was refunded of each: the recent ones, or those of the days asked",
        list[dict[str, Any]],
        tag="reports",
        query=listings.QUERY,
        description=listings.RECEIPTS_DOC,
        errors=(422,),
    ),
    Route(
        "GET",
        f"{VENUE}/shifts",
        listings.shifts,
        "Shifts with their drawer: the recent and open ones, or those of the days asked",
        list[dict[str, Any]],
        tag="reports",
        query=listings.QUERY,
        description=listings.SHIFTS_DOC,
        errors=(422,),
    ),
    Route(
        "GET",
        f"{VENUE}/totals",
        totals,
        "Sums and counts",
        dict[str, int],
        tag="reports",
        description="Minor units. `tax`: the receipts' (gross); `refunded_tax`: what refunds gave "
        "back (each refunded unit's share of its line's tax); `net_tax`: the difference.",
    ),
    Route(
        "GET",
        f"{VENUE}/records",
        records,
        "Every stored row of one table: of the recent days, or of the days asked",
        list[dict[str, Any]],
        tag="reports",
        query=(Field("table", choice(*sorted(TABLES)), "which table"), *listings.QUERY),
        description=listings.RECORDS_DOC,
        errors=(422,),
    ),
    Route(
        "GET",
        f"{VENUE}/alarms",
        alarms,
        "Records the console refused, conflicts",
        list[Alarm],
        tag="reports",
    ),
    *MANAGER_ROUTES,
    *DRAWER_ROUTES,
)
