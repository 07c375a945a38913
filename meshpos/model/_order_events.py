"""One deep observer per ledger day's ``orders`` root, shared by everything that follows the orders.

pycrdt's ``observe_deep`` turns every raw event yrs reports into Python objects for each subscription:
the changed type (``target``), its path and its keys with old and new values, each walked by
``process_event`` (a few ``isinstance`` calls per item, and a new ``Map`` wrapper per nested type). Two
services follow a day's orders (the tally, :mod:`meshpos.model.tally`, and the pages' day index,
:mod:`meshpos.model.day_index`), and neither reads ``target``. Here each day's ``orders`` root is
observed once, on the raw events, and every listener gets the same :class:`OrderChange` list: the path
and a map's keys, with a nested type among the values wrapped as pycrdt wraps it (a ``Map`` an older
node's order holds is read as the listeners read it before). Nothing else is converted (issue 18,
observers: ~8 ``process_event`` calls per applied update per subscription before).

The raw subscription lives as long as one listener does: :func:`unwatch` of the last drops it, and with
it the reference the callback holds to the document (a document still observed is never freed; see
:class:`meshpos.model.replica.Replica`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pycrdt import Doc, Map, Subscription
from pycrdt._base import base_types, process_event


class OrderChange(NamedTuple):
    """One change under a day's ``orders`` root, as a listener reads it."""

    # from the root to the changed type: [] the root itself, [order id] an order, ...
    path: list[str | int]
    # a map's changed keys, pycrdt's form ``{key: {"action": ..., "oldValue": ..., "newValue": ...}}``;
    # None for a change of another type (a list or a text inside an order)
    keys: dict[str, dict[str, Any]] | None


OrderListener = Callable[[list[OrderChange]], None]


@dataclass(eq=False)
class _Root:
    doc: Doc[Any]
    subscription: Subscription | None = None
    listeners: list[OrderListener] = field(default_factory=list)

    def on_raw(self, events: list[Any]) -> None:
        """The raw events of one transaction (yrs' own objects, valid only during this call)."""
        doc = self.doc
        changes = []
        for event in events:
            keys = getattr(event, "keys", None)  # a map's event has keys; a list's or a text's not
            if keys is not None:
                for change in keys.values():
                    for side in ("oldValue", "newValue"):
                        value = change.get(side)
                        if type(value) in base_types:  # a nested type: wrapped as pycrdt does
                            change[side] = process_event(value, doc)
            changes.append(OrderChange(event.path, keys))
        # the listeners may read a nested value: within the transaction that reported it
        with doc._read_transaction(events[0].transaction):
            for listener in list(self.listeners):
                try:
                    listener(changes)
                except Exception as exc:
                    doc._exceptions.append(exc)  # as pycrdt's observe_deep: raised at the end


@dataclass(frozen=True, eq=False)
class OrderWatch:
    """A listener's hold on a day's shared observer (for :func:`unwatch`)."""

    key: tuple[int, str]
    listener: OrderListener


_ROOTS: dict[tuple[int, str], _Root] = {}  # (id of the document, root name) -> its shared observer


def watch(doc: Doc[Any], listener: OrderListener, root: str = "orders") -> OrderWatch:
    """Have ``listener`` hear every change under ``doc``'s root map ``root`` (after the listeners
    already watching it), until :func:`unwatch`."""
    key = (id(doc), root)
    shared = _ROOTS.get(key)
    if shared is None:
        shared = _ROOTS[key] = _Root(doc)
        roots: Map[Any] = doc.get(root, type=Map)
        shared.subscription = roots.integrated.observe_deep(shared.on_raw)
    shared.listeners.append(listener)
    return OrderWatch(key, listener)


def unwatch(held: OrderWatch) -> None:
    """Stop a listener (once; again does nothing); the last one drops the shared observer."""
    shared = _ROOTS.get(held.key)
    if shared is None or held.listener not in shared.listeners:
        return
    shared.listeners.remove(held.listener)
    if not shared.listeners:
        del _ROOTS[held.key]
        if shared.subscription is not None:
            shared.subscription.drop()
