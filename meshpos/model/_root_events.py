"""One observer per root map of a ledger day, shared by everything that follows that root.

pycrdt's ``observe`` and ``observe_deep`` turn every raw event yrs reports into Python objects for each
subscription: the changed type (``target``), its path and its keys with old and new values, each walked
by ``process_event`` (a few ``isinstance`` calls per item, and a new ``Map`` wrapper per nested type).
Two services follow a day's roots (the tally, :mod:`meshpos.model.tally`, and the pages' day index,
:mod:`meshpos.model.day_index`): both the ``orders`` root deep, and several flat roots (``receipts``,
``cash_moves``, ...); neither reads ``target``. Here each root is observed once (deep or not), on the
raw events, and every listener gets the same :class:`RootChange` list: the path and a map's keys, with a
nested type among the old values wrapped as pycrdt wraps it (a ``Map`` an older node's order holds is read
as the listeners read it before). Nothing else is converted (issue 18, observers: ~15 ``process_event``
calls per applied update with both services before).

**Changed** (issue 18, tally): a nested type added (an order arriving) comes without its ``newValue``:
no listener reads it (the tally reads the order from the document when its counts are read, the index
only its key), and wrapping it cost a ``process_event`` and a ``Map`` per order, 5,000 of them for a
day arriving at once. A value deleted is still handed over wrapped (it can no longer be read there).
(receiver, the twenty-second session: the ``newValue`` of a nested type added is handed over as yrs
reports it, unwrapped and valid only while the listeners run: the tally counts an arriving order's
payments from it there, ``LedgerTally._arrived``.)

Listeners run in the order they started watching, within the transaction that reported the change (a
listener may read the document, a nested value included); one that raises stops no other, and its
exception is raised when the transaction ends, as pycrdt does with an observer's.

The raw subscription lives as long as one listener does: :func:`unwatch` of the last drops it, and with
it the reference the callback holds to the document (a document still observed is never freed; see
:class:`meshpos.model.replica.Replica`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pycrdt import Doc, Map, Subscription
from pycrdt._base import base_types, process_event


class RootChange(NamedTuple):
    """One change of a root map or (deep) of a type nested in it, as a listener reads it."""

    # from the root to the changed type: [] the root itself, [order id] an order, ...
    path: list[str | int]
    # a map's changed keys, pycrdt's form ``{key: {"action": ..., "oldValue": ..., "newValue": ...}}``,
    # a nested type's ``newValue`` yrs' own (valid only during the call); None for a change of
    # another type (a list or a text inside an order)
    keys: dict[str, dict[str, Any]] | None


RootListener = Callable[[list[RootChange]], None]


@dataclass(eq=False)
class _Root:
    doc: Doc[Any]
    subscription: Subscription | None = None
    listeners: list[RootListener] = field(default_factory=list)

    def on_raw_event(self, event: Any) -> None:
        """A root's own raw event (not deep)."""
        self.on_raw([event])

    def on_raw(self, events: list[Any]) -> None:
        """The raw events of one transaction (yrs' own objects, valid only during this call)."""
        doc = self.doc
        changes = []
        for event in events:
            keys = getattr(event, "keys", None)  # a map's event has keys; a list's or a text's not
            if keys is not None:
                for change in keys.values():
                    value = change.get("oldValue")
                    if type(value) in base_types:  # a nested type: wrapped as pycrdt does
                        change["oldValue"] = process_event(value, doc)
            changes.append(RootChange(event.path, keys))
        with doc._read_transaction(events[0].transaction):
            for listener in list(self.listeners):
                try:
                    listener(changes)
                except Exception as exc:
                    doc._exceptions.append(exc)  # as pycrdt's observers: raised at the end


@dataclass(frozen=True, eq=False)
class RootWatch:
    """A listener's hold on a root's shared observer (for :func:`unwatch`)."""

    key: tuple[int, str, bool]
    listener: RootListener


# (id of the document, root name, deep) -> its shared observer (holding the document: unwatch all)
_ROOTS: dict[tuple[int, str, bool], _Root] = {}


def watch(
    doc: Doc[Any], listener: RootListener, root: str = "orders", *, deep: bool = True
) -> RootWatch:
    """Have ``listener`` hear every change of ``doc``'s root map ``root`` (and, if ``deep``, of the
    types nested in it), after the listeners already watching it, until :func:`unwatch`."""
    key = (id(doc), root, deep)
    shared = _ROOTS.get(key)
    if shared is None:
        shared = _ROOTS[key] = _Root(doc)
        raw = doc.get(root, type=Map).integrated
        if deep:
            shared.subscription = raw.observe_deep(shared.on_raw)
        else:
            shared.subscription = raw.observe(shared.on_raw_event)
    shared.listeners.append(listener)
    return RootWatch(key, listener)


def unwatch(held: RootWatch) -> None:
    """Stop a listener (once; again does nothing); the last one drops the shared observer."""
    shared = _ROOTS.get(held.key)
    if shared is None or held.listener not in shared.listeners:
        return
    shared.listeners.remove(held.listener)
    if not shared.listeners:
        del _ROOTS[held.key]
        if shared.subscription is not None:
            shared.subscription.drop()


def entries(root: Map[Any] | Mapping[str, Any]) -> list[tuple[str, object]]:
    """A root map's entries, each text read by key through yrs in one transaction; anything else (a
    nested type) as pycrdt wraps it; a plain mapping's (a day's snapshot) as they are. pycrdt's
    ``items()`` asks for a transaction and checks the key again for each entry: ~3.5 us of the ~5 us
    a record cost a start that reads the day (issue 18)."""
    if not isinstance(root, Map):
        return list(root.items())
    with root.doc.transaction() as txn:
        held, raw = txn._txn, root.integrated
        found: list[tuple[str, object]] = []
        for key in raw.keys(held):
            value = raw.get(held, key)
            found.append((key, value if isinstance(value, str) else root[key]))
        return found
