"""A register's data dir with a long history, built in minutes: ``bench history``'s fixture.

What a register that sold every day for ``days`` days holds: one ``ledger/<date>`` document per closed day
(``receipts_per_day`` full sales each: a shift opened and closed, orders with 1-3 lines, card or cash
payments, receipts numbered in the register's one series), today's open day with ``open_day`` sales and the
shift still open, the sample catalog, the receipt-number mark in ``stoplist`` and ``receipt_seq`` in the
store's meta. It is a real SQLite file written through :class:`meshpos.store.SqliteStore` (which parses
every update before writing it) with real certificates (:mod:`meshpos.harness.venue`).

A few template days are sold through the model and each closed day is one of them re-keyed
(:mod:`meshpos.bench.history_rekey`): new ids, its own date and times, the next receipt numbers. The first
and last closed day and the open day are read back through the model before anything is written. Each
closed day is one update row (what compaction leaves is one snapshot row: the same bytes to load), and
is marked closed as a running node closes it (``Store.close_day`` with its state vector, deletions and
receipt keys): a node starts with only the open day loaded, and loads an old day on demand.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycrdt import Doc

from meshpos.bench.history_rekey import (
    Template,
    cut,
    day_start_ms,
    day_tag,
    render,
    template_id,
    verify_day,
)
from meshpos.config import Config
from meshpos.errors import MeshposError
from meshpos.harness.venue import catalog_update, make_device, make_venue
from meshpos.model import Ledger, Replica, Venue, business_date
from meshpos.model.day_end import day_keys
from meshpos.model.documents import CATALOG, STOPLIST, ledger_name
from meshpos.model.numbering import ReceiptNumbering
from meshpos.model.sample import CASHIER
from meshpos.store import SqliteStore
from meshpos.store.base import summarize

DEVICE = "R1"
TEMPLATE_DATE = "2000-01-03"  # any past date: its times are far above every amount (MAX_AMOUNT)
TEMPLATES = 4  # distinct days sold through the model; closed days cycle through them
OPEN_DAY_TAG = (1 << 32) - 1  # closed day d has tag d + 1
PRODUCTS = ("espresso", "croissant", "burger", "fries", "lemonade", "export-beans")
MAX_RECEIPTS = 999_999  # a receipt number has six digits (numbering.format_number)
_BATCH_BYTES = 16 << 20  # one store append per this much


def progress(text: str) -> None:
    print(f"bench history: {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Fixture:
    config: Config
    config_file: Path  # what ``meshpos node --config`` takes
    days: int
    receipts_per_day: int
    open_day: int
    oldest_receipt: str  # from the oldest closed day; the open day's first without history
    db_mb: float
    build_s: float


def sample_day_settings() -> tuple[str, int]:
    """The sample catalog's timezone and day cut-off: business dates are computed as the node does."""
    replica = Replica(capture=False)
    replica.apply(CATALOG, catalog_update())
    settings = Venue(replica, device=DEVICE, role="register").catalog.settings()
    return settings.timezone, settings.day_cutoff_hour


class FixtureMaker:
    """Sells the templates once and renders as many registers from them as the run needs."""

    def __init__(self, root: Path, receipts_per_day: int, now_ms: int) -> None:
        self.root = root
        self.per_day = receipts_per_day
        self.now_ms = now_ms
        timezone, self.cutoff_hour = sample_day_settings()
        if timezone != "UTC":
            raise MeshposError("the history fixture assumes the sample catalog's UTC timezone")
        self.today = business_date(now_ms, timezone, self.cutoff_hour)
        self._closed: list[Template] = []
        self._open: dict[int, Template] = {}

    def _sell(self, k: int, receipts: int, start_ms: int, span_ms: int, close: bool) -> Template:
        replica = Replica(capture=False)
        replica.apply(CATALOG, catalog_update())
        ids = itertools.count()
        venue = Venue(
            replica, device=DEVICE, role="register", new_id=lambda: template_id(k, next(ids))
        )
        rng = random.Random(k)
        venue.open_shift_now(CASHIER, 10_000, start_ms)
        began = time.perf_counter()
        for i in range(receipts):
            now = start_ms + span_ms * i // max(receipts, 1)
            order = venue.open_order(CASHIER, now)
            for _ in range(rng.randint(1, 3)):
                venue.add_line(CASHIER, order.id, rng.choice(PRODUCTS), rng.randint(1, 3), now)
            venue.pay(CASHIER, order.id, rng.choice(("card", "cash")), now)
            if (i + 1) % 5000 == 0:
                rate = (i + 1) / (time.perf_counter() - began)
                progress(f"template {k}: {i + 1:,} / {receipts:,} sales ({rate:,.0f}/s)")
        if close:
            venue.close_shift(CASHIER, 0, start_ms + span_ms)
        date = venue.business_date(start_ms)
        update = replica.doc(ledger_name(date)).get_update()
        return cut(update, date, DEVICE, receipts, self.cutoff_hour)

    def closed_templates(self, count: int) -> list[Template]:
        start = day_start_ms(TEMPLATE_DATE) + 8 * 3_600_000  # sales from 08:00 to 22:00
        while len(self._closed) < count:
            k = len(self._closed)
            progress(f"selling closed-day template {k + 1} of {count} ({self.per_day:,} sales)")
            self._closed.append(self._sell(k, self.per_day, start, 14 * 3_600_000, close=True))
        return self._closed[:count]

    def open_template(self, receipts: int) -> Template:
        """Today's sales so far, spread from the day's start until now; the shift stays open."""
        if receipts not in self._open:
            progress(f"selling the open-day template ({receipts:,} sales)")
            opened = day_start_ms(self.today) + self.cutoff_hour * 3_600_000
            span = max(0, self.now_ms - opened - 1_000)
            start = day_start_ms(TEMPLATE_DATE) + self.cutoff_hour * 3_600_000
            k = TEMPLATES + len(self._open)
            self._open[receipts] = self._sell(k, receipts, start, span, close=False)
        return self._open[receipts]

    def _shift(self, date: str) -> int:
        return day_start_ms(date) - day_start_ms(TEMPLATE_DATE)

    async def build(self, name: str, days: int, open_day: int) -> Fixture:
        """Register ``R1`` of a new venue in ``root/name`` with ``days`` closed days and the open day."""
        began = time.perf_counter()
        total = days * self.per_day + open_day
        if total > MAX_RECEIPTS:
            raise MeshposError(
                f"{total:,} receipts do not fit the six-digit receipt numbers ({MAX_RECEIPTS:,})"
            )
        templates = self.closed_templates(min(TEMPLATES, days)) if days else []
        opened = self.open_template(open_day)
        home = self.root / name
        try:
            home.mkdir(parents=True)
        except FileExistsError:
            raise MeshposError(
                f"{home} exists (an earlier run's fixture?): give --dir an empty or new folder"
            ) from None
        # keep_days 0: the history is what is measured (the default would drop days past 62)
        config = await make_device(
            make_venue(home), home, DEVICE, catalog=catalog_update(), keep_days=0
        )
        oldest = ""
        open_update = render(
            opened, day_tag(OPEN_DAY_TAG), self._shift(self.today), days * self.per_day
        )
        first_open = verify_day(
            open_update,
            self.today,
            receipts=open_day,
            first_seq=days * self.per_day + 1,
            device=DEVICE,
            cutoff_hour=self.cutoff_hour,
        )
        stoplist = Replica(capture=False)
        ReceiptNumbering(stoplist.doc(STOPLIST), DEVICE, seq=total).publish()
        async with await SqliteStore.open(config.db_path) as store:
            batch: list[tuple[str, bytes]] = []
            size = 0
            closing: list[tuple[str, bytes]] = []
            for d, date in enumerate(closed_day_dates(self.today, days)):
                update = render(
                    templates[d % len(templates)],
                    day_tag(d + 1),
                    self._shift(date),
                    d * self.per_day,
                )
                closing.append((date, update))
                if d in (0, days - 1):
                    ledger = verify_day(
                        update,
                        date,
                        receipts=self.per_day,
                        first_seq=d * self.per_day + 1,
                        device=DEVICE,
                        cutoff_hour=self.cutoff_hour,
                    )
                    if d == 0:
                        oldest = min(ledger.receipts(), key=lambda r: r.seq).id
                batch.append((ledger_name(date), update))
                size += len(update)
                if size >= _BATCH_BYTES:
                    await store.append(batch)
                    await close_stored_days(store, closing)
                    batch, size, closing = [], 0, []
                    progress(f"{name}: {d + 1:,} / {days:,} days written and closed")
            batch += [
                (ledger_name(self.today), open_update),
                (STOPLIST, stoplist.doc(STOPLIST).get_update()),
            ]
            await store.append(batch, meta={"receipt_seq": str(total)})
            await close_stored_days(store, closing)
        if not oldest:
            oldest = min(first_open.receipts(), key=lambda r: r.seq).id
        files = config.db_path.parent.glob(config.db_path.name + "*")
        db_mb = sum(p.stat().st_size for p in files) / 1e6
        return Fixture(
            config,
            home / f"{DEVICE}.toml",
            days,
            self.per_day,
            open_day,
            oldest,
            round(db_mb, 1),
            round(time.perf_counter() - began, 2),
        )


async def close_stored_days(
    store: SqliteStore, days: list[tuple[str, bytes]], *, signed: bool = False
) -> None:
    """Mark past days closed exactly as a running node's ``DayCloser`` does: the store keeps each
    day's state vector and deletions and indexes its receipts' ids and numbers; ``signed``: as a
    strict node does (closed on the console's signed word: a day it may drop later)."""
    for date, update in days:
        doc: Doc[Any] = Doc()
        doc.apply_update(update)
        keys = day_keys(Ledger(doc, date))
        del doc
        await store.close_day(ledger_name(date), *summarize(update), keys)
        if signed:
            await store.confirm_closed(ledger_name(date))


def closed_day_dates(today: str, days: int) -> list[str]:
    """The dates of ``days`` closed days before ``today``, oldest first (the fixture's layout)."""
    day = dt.date.fromisoformat(today)
    return [(day - dt.timedelta(days=days - d)).isoformat() for d in range(days)]
