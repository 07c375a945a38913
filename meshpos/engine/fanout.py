"""Who hears which engine event: one dispatch table by the event's type (issue 18, fanout).

docs/architecture.md (Engine). Each listener names the event types it handles when it subscribes (none:
every event). An event is handed to the listeners of its type only, in the order they subscribed: one
dict lookup per event instead of every listener type-checking every event (29,325 events in the
6-device 100/s sale phase, each handed to ~9 listeners that mostly ignored it). A listener that raises
is not caught here: the exception leaves :meth:`Fanout.emit` and the later listeners do not hear that
event, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

E = TypeVar("E")


class Fanout(Generic[E]):
    """Listeners by the event types they handle; the table per concrete type is built on first use."""

    def __init__(self) -> None:
        self._subscribed: list[tuple[Callable[[E], None], tuple[type, ...]]] = []
        self._table: dict[type, tuple[Callable[[E], None], ...]] = {}

    def add(self, listener: Callable[[E], None], kinds: tuple[type, ...]) -> None:
        """``listener`` hears events of ``kinds`` (and their subclasses); no kinds: every event."""
        self._subscribed.append((listener, kinds))
        self._table.clear()  # rebuilt per type on the next emit

    def listeners(self, kind: type) -> tuple[Callable[[E], None], ...]:
        """The listeners an event of type ``kind`` is handed to, in the order they subscribed."""
        found = self._table.get(kind)
        if found is None:
            found = self._table[kind] = tuple(
                listener
                for listener, kinds in self._subscribed
                if not kinds or issubclass(kind, kinds)
            )
        return found

    def emit(self, event: E) -> None:
        for listener in self.listeners(type(event)):
            listener(event)
