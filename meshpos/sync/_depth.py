"""How deep each shared type of a document lies: an update that would make one deeper than
``MAX_TYPE_DEPTH`` is refused before pycrdt sees it.

**Changed** (deep, the twenty-fourth session). yrs deletes a type's children recursively on the
native stack: maps nested in maps 100,000 deep, made and deleted in one update of 983 kB, killed a
node with SIGSEGV (no error to catch), and an enrolled device, a relay or a stock Yjs client could
send it. Such a chain can also grow one level per update (each new map's parent named by its id), so
no reading of one update (``_shape``) bounds it: the document must be known. pycrdt tells nothing
of an item's parent, so each document's :class:`Depths` reads every update it takes (a peer's, before
its apply: :meth:`Depths.check`, then :meth:`Depths.commit` once applied; a load from the store, a
reopened day, another console process's, our own writes: :meth:`Depths.feed`) and keeps, per client,
the **parent depth** of every item (clock ranges, run-length: nearly every item lies under a root or
in an order's map, so a day is a few ranges per sale). A root's items have parent depth 0; a type
item's type lies one below its parent. In Yjs v1 an item names its parent only when it has neither
origin nor right origin; otherwise its parent is its origin's parent (else its right origin's), so an
item's depth is read off the item it names. The model writes records as JSON text: its orders lie at
depth 1 and an N−1 node's part maps at 2 (``model.ledger_layout``), far inside the bound.

An item may name one the document does not hold yet (yrs keeps it pending until that one arrives):
its depth is then kept as "that item's, plus so many" and the deepest type hanging on each such
missing item is remembered (``_waiting``); a type already deeper than the bound by its offset alone
is refused at once, and the update that brings the missing item is refused if it would make what
waits on it too deep. Within one update, items name each other in any order: they are settled
depth-first, whatever the order yrs integrates them in (a depth depends on the items, not on it).
Following such names is bounded (``MAX_HOPS``): a chain of missing items longer than that is refused.

Known limit: items kept pending by yrs whose missing item never comes stay in the index (they cost
what they weigh), and an update of an honest author that completes a chain an attacker planted
ahead of it is refused (a link closed, nothing crashed); an attacker needs an enrolled device for
either."""

from __future__ import annotations

import logging
from bisect import bisect_right

from meshpos.errors import RemoteProtocolError
from meshpos.sync._items import PARENT as _PARENT
from meshpos.sync._items import ROOT as _ROOT
from meshpos.sync._items import Struct, structs_of

log = logging.getLogger("meshpos.sync")

#: how deep a shared type may lie (a root's maps are at 1); yrs's own recursion gave out between
#: 20,000 and 100,000 on an 8 MB stack, the model's types lie at 1, an N−1 node's at 2
MAX_TYPE_DEPTH = 64
#: missing items followed, one naming the next, before an update is refused
MAX_HOPS = 64

#: a parent depth: a number, or (client, clock, offset): that missing item's parent depth plus offset
Value = int | tuple[int, int, int]


class TooDeep(RemoteProtocolError):
    """An update would make a shared type deeper than ``MAX_TYPE_DEPTH`` (or names missing items
    beyond ``MAX_HOPS``)."""


class Staged:
    """What :meth:`Depths.check` read of an update, to :meth:`Depths.commit` once it is applied."""

    __slots__ = ("settled", "structs", "values", "waiting")

    def __init__(
        self,
        structs: list[Struct],
        values: list[Value],
        waiting: dict[tuple[int, int], int],
        settled: list[tuple[int, int]],
    ) -> None:
        self.structs = structs
        self.values = values
        self.waiting = waiting  # missing items -> the deepest type offset waiting on each
        self.settled = settled  # waiting items this update brings


class Depths:
    """One document's parent depth of every item it holds (see the module docstring)."""

    __slots__ = ("_runs", "_top", "_waiting")

    def __init__(self) -> None:
        # client -> (first clocks, end clocks, parent depths) of its ranges, sorted
        self._runs: dict[int, tuple[list[int], list[int], list[Value]]] = {}
        self._top: set[int] = set()  # types made under a root, ``client << 53 | clock``
        self._waiting: dict[tuple[int, int], int] = {}

    def check(self, update: bytes, what: str) -> Staged:
        """Read ``update`` (Yjs v1) against what the document holds; TooDeep naming ``what`` if
        applying it would make a shared type deeper than ``MAX_TYPE_DEPTH``. Changes nothing."""
        try:
            return self._stage(update)
        except TooDeep as exc:
            raise TooDeep(f"{what}: {exc.message}") from None
        except IndexError:
            raise RemoteProtocolError(f"{what}: not a valid Yjs update (it ends early)") from None
        except RemoteProtocolError as exc:
            raise RemoteProtocolError(f"{what}: {exc.message}") from None

    def commit(self, staged: Staged) -> None:
        """Keep what ``staged`` read: its update was applied."""
        runs = self._runs
        mine: tuple[list[int], list[int], list[Value]] | None = None
        mine_client = -1
        for (client, start, end, *_, is_type), value in zip(
            staged.structs, staged.values, strict=True
        ):
            if is_type and value == 0:
                self._top.add(client << 53 | start)
            if mine is None or client != mine_client:
                mine, mine_client = runs.get(client), client
            if mine is not None and start == mine[1][-1]:  # (``_put``'s usual case inline)
                last = mine[2][-1]
                if last == value:
                    mine[1][-1] = end
                elif value.__class__ is int and last.__class__ is int and value | last == 1:
                    mine[1][-1], mine[2][-1] = end, 1  # (a root's items kept one deeper)
                else:
                    mine[0].append(start)
                    mine[1].append(end)
                    mine[2].append(value)
            else:
                self._put(client, start, end, value)
                mine = None
        for item in staged.settled:
            self._waiting.pop(item, None)
        for item, offset in staged.waiting.items():
            if self._waiting.get(item, -1) < offset:
                self._waiting[item] = offset

    def feed(self, update: bytes, name: str) -> None:
        """Take ``update``, applied already (a load, our own write, another process's): kept even
        if too deep (it is there), which is logged; an unreadable one is logged and left out."""
        try:
            staged = self._stage(update)
        except TooDeep as exc:
            log.error("%s holds %s", name, exc.message)
            staged = self._stage(update, bounded=False)
        except (IndexError, RemoteProtocolError) as exc:
            log.error("%s: an applied update not read for its depths (%r)", name, exc)
            return
        self.commit(staged)

    @property
    def ranges(self) -> int:
        """How many ranges are kept (memory: three list entries each)."""
        return sum(len(starts) for starts, _, _ in self._runs.values())

    # --- reading an update --------------------------------------------------------------------

    def _stage(self, update: bytes, bounded: bool = True) -> Staged:
        structs, spans = structs_of(update)
        found = _Found(structs, spans)
        values: list[Value | None] = [None] * len(structs)
        waiting: dict[tuple[int, int], int] = {}
        last: tuple[int, int, int] = (-1, -1, 0)  # the last item named, and its parent depth
        for index, (_, _, _, how, client, clock, is_type) in enumerate(structs):
            if values[index] is not None:
                continue  # (settled as one a struct before it named)
            if how == _ROOT:  # (the usual cases inline: a root's item, the item named before)
                value: Value = 0
            elif client == last[0] and clock == last[1]:
                value = last[2] + 1 if how == _PARENT else last[2]
            else:
                named = self._value_of(client, clock, structs, found, values)
                if named.__class__ is int:  # (not a call: nearly every struct named)
                    if named < 0:  # a struct of this update further on: settled depth-first
                        self._settle(index, structs, found, values, waiting, bounded)
                        continue
                    last = (client, clock, named)
                    value = named + 1 if how == _PARENT else named
                else:  # (named on a missing item: rare)
                    assert isinstance(named, tuple)
                    value = (named[0], named[1], named[2] + 1) if how == _PARENT else named
            if is_type and (value.__class__ is not int or value >= MAX_TYPE_DEPTH):
                self._bound(value, waiting, bounded)  # (a call only past the usual case)
            values[index] = value
        settled = []
        if self._waiting:  # missing items this update brings: what waited on them is placed now
            for item, offset in self._waiting.items():
                at = found.index_of(*item)
                if at is None:
                    continue
                settled.append(item)
                lies = values[at]
                assert lies is not None
                if isinstance(lies, int):
                    if bounded and lies + offset > MAX_TYPE_DEPTH:
                        raise TooDeep(_too_deep(lies + offset))
                else:
                    key, deeper = (lies[0], lies[1]), lies[2] + offset
                    if bounded and deeper > MAX_TYPE_DEPTH:
                        raise TooDeep(_too_deep(deeper))
                    if waiting.get(key, -1) < deeper:
                        waiting[key] = deeper
        return Staged(structs, values, waiting, settled)  # type: ignore[arg-type]

    @staticmethod
    def _bound(value: Value, waiting: dict[tuple[int, int], int], bounded: bool) -> None:
        """A type item whose parent lies at ``value``: TooDeep past the bound; one hanging on a
        missing item is remembered on it (the deepest only)."""
        depth = value + 1 if isinstance(value, int) else value[2] + 1
        if bounded and depth > MAX_TYPE_DEPTH:
            raise TooDeep(_too_deep(depth))
        if not isinstance(value, int) and waiting.get(value[:2], -1) < depth:
            waiting[value[:2]] = depth

    def _settle(
        self,
        first: int,
        structs: list[Struct],
        found: _Found,
        values: list[Value | None],
        waiting: dict[tuple[int, int], int],
        bounded: bool,
    ) -> None:
        """Give ``structs[first]`` (and the structs of this update it names, depth-first) a value."""
        stack = [first]
        open_ = {first}
        while stack:
            index = stack[-1]
            _, _, _, how, client, clock, is_type = structs[index]
            if how == _ROOT:
                value: Value = 0
            else:
                named = self._value_of(client, clock, structs, found, values)
                if isinstance(named, int) and named < 0:  # a struct of this update, unsettled
                    ahead = -named - 1
                    if ahead not in open_:
                        open_.add(ahead)
                        stack.append(ahead)
                        continue
                    named = (client, clock, 0)  # (a cycle: yrs never integrates it)
                step = 1 if how == _PARENT else 0
                value = named + step if isinstance(named, int) else (*named[:2], named[2] + step)
            if is_type:
                self._bound(value, waiting, bounded)
            values[index] = value
            stack.pop()

    def _value_of(
        self,
        client: int,
        clock: int,
        structs: list[Struct],
        found: _Found,
        values: list[Value | None],
    ) -> Value:
        """The parent depth of item (client, clock), following missing items' names; a struct of
        this update not settled yet comes back as -(its index) - 1."""
        offset = 0
        for _ in range(MAX_HOPS):
            value: Value | None = None
            runs = self._runs.get(client)
            if runs is not None:  # (``_held`` inline: once or twice a received struct)
                starts, ends, kept = runs
                if clock >= starts[-1]:
                    if clock < ends[-1]:
                        value = kept[-1]
                else:
                    at = bisect_right(starts, clock) - 1
                    if at >= 0 and clock < ends[at]:
                        value = kept[at]
                if value == 1 and client << 53 | clock in self._top:
                    value = 0  # (a type under a root, in a range kept at 1: exact, for its items)
            if value is None:
                index = found.index_of(client, clock)
                if index is None:
                    return (client, clock, offset)  # missing: yrs keeps what names it pending
                value = values[index]
                if value is None:
                    return -index - 1
            if value.__class__ is int:  # (not a call: this runs for most received structs)
                return value + offset
            client, clock, offset = value[0], value[1], value[2] + offset  # type: ignore[index]
        raise TooDeep(f"names missing items more than {MAX_HOPS} deep")

    def _held(self, client: int, clock: int) -> Value | None:
        runs = self._runs.get(client)
        if runs is None:
            return None
        starts, ends, values = runs
        at = bisect_right(starts, clock) - 1
        if at >= 0 and clock < ends[at]:
            return values[at]
        return None

    def _put(self, client: int, start: int, end: int, value: Value) -> None:
        """Keep [start, end) of ``client`` at ``value`` where nothing is kept yet."""
        runs = self._runs.get(client)
        if runs is None:
            self._runs[client] = ([start], [end], [value])
            return
        starts, ends, values = runs
        if start >= ends[-1]:  # the usual case: the author's next items
            if start == ends[-1] and values[-1] == value:
                ends[-1] = end
            elif start == ends[-1] and {values[-1], value} == {0, 1}:
                ends[-1], values[-1] = end, 1  # (a root's items kept one deeper, as in ``commit``)
            else:
                starts.append(start)
                ends.append(end)
                values.append(value)
            return
        at = bisect_right(starts, start) - 1
        pieces = []
        cursor = start
        index = max(at, 0)
        while cursor < end and index <= len(starts):
            if index < len(starts) and starts[index] <= cursor:
                cursor = max(cursor, ends[index])
                index += 1
                continue
            stop = end if index == len(starts) else min(end, starts[index])
            if cursor < stop:
                pieces.append((cursor, stop))
            cursor = stop
        for piece_start, piece_end in pieces:
            where = bisect_right(starts, piece_start)
            starts.insert(where, piece_start)
            ends.insert(where, piece_end)
            values.insert(where, value)


class _Found:
    """The structs of one update by client, to find the one holding an item (built when first
    asked: a live update's items mostly name held ones)."""

    __slots__ = ("_by_client", "_spans", "_structs")

    def __init__(self, structs: list[Struct], spans: dict[int, tuple[int, int]]) -> None:
        self._structs = structs
        self._spans = spans  # client -> (first, end) index of its structs (one run each in v1)
        self._by_client: dict[int, tuple[list[int], list[int]]] = {}

    def index_of(self, client: int, clock: int) -> int | None:
        """The index of the struct of this update that holds (client, clock), if any."""
        span = self._spans.get(client)
        if span is None:
            return None
        first, end = span
        if end - first <= 8:  # (a live update: a few structs, looked through without a call)
            for index in range(end - 1, first - 1, -1):
                struct = self._structs[index]
                if struct[1] <= clock:
                    return index if clock < struct[2] else None
            return None
        mine = self._by_client.get(client)
        if mine is None:
            indexes = list(range(*span))  # (in clock order: each struct's clock is its own)
            mine = self._by_client[client] = ([self._structs[i][1] for i in indexes], indexes)
        starts, indexes = mine
        at = bisect_right(starts, clock) - 1
        if at >= 0 and clock < self._structs[indexes[at]][2]:
            return indexes[at]
        return None


def _too_deep(depth: int) -> str:
    return f"a shared type nested deeper than {MAX_TYPE_DEPTH} (at {depth})"
