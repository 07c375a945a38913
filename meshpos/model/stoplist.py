"""The stop list: which items cannot be sold right now, and who said so when.

Each device writes only its own entry per item (key ``item/device``), so concurrent stops never overwrite each
other inside pycrdt; readers take the entry with the highest hybrid-clock stamp. A later change therefore wins
whichever device made it, and an old register coming back online cannot resurrect an item it last saw
available.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Map

from meshpos.model._records import CorruptRegistry, Fields, parse_each
from meshpos.model._writes import put
from meshpos.model.clock import HybridClock, Stamp
from meshpos.model.documents import STOPLIST
from meshpos.model.ledger_kept import watched


@dataclass(frozen=True, slots=True)
class StopEntry:
    item: str
    stopped: bool
    user: str
    device: str
    stamp: Stamp

    @property
    def at_ms(self) -> int:
        return self.stamp.wall_ms


class StopList:
    def __init__(
        self, doc: Doc[Any], name: str = STOPLIST, corrupt: CorruptRegistry | None = None
    ) -> None:
        """``corrupt``: where reads note the entries they skip; None makes them strict."""
        self.corrupt = corrupt
        self.doc = doc
        self.name = name
        self._items = doc.get("items", type=Map)

    def _entries(self, item: str | None = None) -> list[StopEntry]:
        chosen = (
            (key, value)
            for key, value in self._items.items()
            if item is None or key.rpartition("/")[0] == item
        )
        return list(
            parse_each(chosen, self._entry, doc=self.name, root="items", corrupt=self.corrupt)
        )

    def _entry(self, key: str, value: object) -> StopEntry:
        rec = Fields(value, f"{self.name} items/{key}")
        return StopEntry(
            item=key.rpartition("/")[0],
            stopped=rec.flag("stopped"),
            user=rec.text("user"),
            device=rec.text("device"),
            stamp=Stamp.decode(rec.text("stamp"), f"{rec.where} stamp"),
        )

    def entry(self, item: str) -> StopEntry | None:
        """The deciding entry for an item, or None if nobody ever stopped it.

        **Changed** (issue 18, cpu; the twenty-fourth session): kept per item until the stop list
        changes (``ledger_kept.watched``: its observer empties it at any change, ours, a peer's or
        an undo; nothing is kept inside an open transaction), and only when no entry of the item was
        skipped as corrupt (each read notes it, as before). Every line a register adds asks it: it
        walked every entry of every item (each device's, ever) through a pycrdt transaction."""
        kept = watched(self.doc, "stop list entries", (self._items,))
        if kept is not None and item in kept:
            found: StopEntry | None = kept[item]
            return found
        chosen = [(k, v) for k, v in self._items.items() if k.rpartition("/")[0] == item]
        entries = list(
            parse_each(chosen, self._entry, doc=self.name, root="items", corrupt=self.corrupt)
        )
        found = max(entries, key=lambda e: e.stamp) if entries else None
        if kept is not None and len(entries) == len(chosen):
            kept[item] = found
        return found

    def is_stopped(self, item: str) -> bool:
        entry = self.entry(item)
        return entry is not None and entry.stopped

    def current(self) -> dict[str, StopEntry]:
        winners: dict[str, StopEntry] = {}
        for entry in self._entries():
            best = winners.get(entry.item)
            if best is None or entry.stamp > best.stamp:
                winners[entry.item] = entry
        return winners

    def stopped_items(self) -> list[str]:
        return sorted(item for item, entry in self.current().items() if entry.stopped)

    def set(
        self, item: str, stopped: bool, *, user: str, device: str, clock: HybridClock, now_ms: int
    ) -> StopEntry:
        previous = self.entry(item)
        if previous is not None:
            clock.observe(previous.stamp)
        stamp = clock.now(now_ms)
        key = f"{item}/{device}"
        put(
            self._items,
            key,
            {"stopped": stopped, "user": user, "device": device, "stamp": stamp.encode()},
            f"{self.name} items/{key}",
        )
        return StopEntry(item, stopped, user, device, stamp)
