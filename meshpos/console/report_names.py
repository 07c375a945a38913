"""The venue's words for what the materialised tables hold by id: cashiers' names, products' names and
categories, the venue's time zone and currency, read from the catalog (a venue's settings, not its
history: one small document however long the venue has sold). Also the CSV every report exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from meshpos.console.sheet import text_cell
from meshpos.errors import MeshposError
from meshpos.model import Venue
from meshpos.model.catalog import Settings


@dataclass(frozen=True, slots=True)
class Names:
    users: Mapping[str, str] = field(default_factory=dict)
    products: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # id -> (name, category)
    settings: Settings = field(default_factory=Settings)

    @classmethod
    def of(cls, venue: Venue) -> Names:
        """What the catalog says; a record a peer corrupted is left out (the id is shown instead)."""
        catalog = venue.catalog
        try:
            users = {u.id: u.name for u in catalog.users()}
        except MeshposError:
            users = {}
        try:
            products = {p.id: (p.name, p.category) for p in catalog.products()}
        except MeshposError:
            products = {}
        try:
            settings = catalog.settings()
        except MeshposError:
            settings = Settings()
        return cls(users, products, settings)

    def user(self, user_id: object) -> str:
        return self.users.get(str(user_id), str(user_id or ""))

    def cashiers_like(self, text: str) -> tuple[str, ...]:
        """The ids of the users whose name or id holds ``text`` (any case), and ``text`` itself (a
        cashier the catalog no longer lists is found by id)."""
        wanted = text.casefold()
        found = {uid for uid, name in self.users.items() if wanted in f"{uid}\n{name}".casefold()}
        return tuple(sorted(found | {text}))

    def local_hour(self, epoch_ms: int) -> int:
        """The hour of the day at the venue (its time zone; UTC when the setting is not a zone)."""
        try:
            zone: Any = ZoneInfo(self.settings.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC
        return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).astimezone(zone).hour


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        return text_cell(
            value
        )  # a product named "=HYPERLINK(...)" stays text in the manager's sheet
    return value


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """One header line, then one line per row; amounts stay minor units (the API's own numbers)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()
