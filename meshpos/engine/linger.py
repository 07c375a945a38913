"""The engine's side of taps that may wait (issue 18, coalesce; docs/architecture.md (Links)).

:meth:`~meshpos.engine.engine.Engine.write` with ``wait_ms`` runs its change with the synchronizer's
``linger_until`` set, so the update is committed as always but held (``sync/_lingering.py``); here the
earliest deadline of what is held is timed with ``loop.call_at`` (no sleep loop), and when it passes
what is held is sent. A mixin of :class:`~meshpos.engine.engine.Engine`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from meshpos.sync import Synchronizer

T = TypeVar("T")


class Lingers:
    """A write's update that may wait, timed (a mixin of ``Engine``)."""

    sync: Synchronizer
    _lingers: asyncio.TimerHandle | None = None  # when what is held must leave

    if TYPE_CHECKING:

        def _flush(self) -> None: ...

    def _change(self, change: Callable[[], T], wait_ms: float) -> T:
        """Run ``change``; its update may wait ``wait_ms``, and what waits is timed."""
        loop = asyncio.get_running_loop()
        if wait_ms > 0:
            self.sync.linger_until = loop.time() + wait_ms / 1000
        try:
            return change()
        finally:
            self.sync.linger_until = None
            self._linger_timer(loop)

    def _linger_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        """The earliest deadline of what waits is timed (``_linger_ended`` sends it then)."""
        due = self.sync.linger_due
        if due is not None and (self._lingers is None or self._lingers.when() > due):
            if self._lingers is not None:
                self._lingers.cancel()
            self._lingers = loop.call_at(due, self._linger_ended)

    def _linger_ended(self) -> None:
        self._lingers = None
        loop = asyncio.get_running_loop()
        due = self.sync.linger_due
        if due is not None and due <= loop.time() + 0.001:  # (a timer may fire a little early)
            self.sync.release_lingering()
            self._flush()  # (what waits for a commit leaves with it)
        elif due is not None:
            self._linger_timer(loop)
