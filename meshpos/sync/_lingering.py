"""A local write's update that may wait: held, then sent merged with the next ones (issue 18, coalesce).

**Changed** (issue 18, coalesce): a sale is four taps (open the order, add lines, pay), and each was
its own update that every device received, applied, forwarded, framed, encrypted and committed. A
write the caller lets wait (:attr:`Lingering.linger_until`, set by the engine around it) is committed
as always, but its update is held here instead of going to the sessions. It leaves merged with every
update held for its document (``pycrdt.merge_updates``: one author, ours, so the receivers' authorship
checks hold; our clock runs on without a gap, since every later write of ours to that document either
waits here too or takes these with it) when the next write that may not wait changes any document
(it takes them all at once, its own merged into its document's), or when the earliest deadline passes
(:meth:`Lingering.release_lingering`, from ``tick`` or the engine's timer; ``next_deadline`` names it).

**Changed** (issue 18, tenth session, cpu): the changes of one write that may not wait leave together
when the write ends (:meth:`Lingering.writing`), one merged update per document. A sale's payment is
three transactions (the payment, the receipt number's mark in ``stoplist``, the receipt), and its
ledger's two updates left as two messages that every device decoded, checked, applied (each apply a
transaction with its observers: the tally, the day index, forwarding) and committed on its own. They
leave in the same flush as before (nothing awaits inside a write, and sessions send only when the
engine flushes after it), so nothing leaves later; a write that raises midway sends what it changed,
as before.

Nothing acknowledged can be lost: what waits here is committed, so a restart's catch-up sends it. No
status is more optimistic: what waits is in no peer's state vector, so the durability count and the
pending counts (read from what the peers and the console say they hold) still count it as ours alone.
A mixin of :class:`~meshpos.sync._synchronizer.Synchronizer`, which owns the state named below.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pycrdt import merge_updates


class Lingering:
    """Local updates held until a write that may not wait, or their deadline (a mixin)."""

    #: set by the engine while a write that may wait runs: until when its update may be held (on
    #: ``tick``'s clock); None: a write's update is sent at once (with what waits for its document)
    linger_until: float | None = None
    _linger_due: float | None = None  # the earliest deadline of what waits
    _lingering: dict[str, list[bytes]]  # document -> our updates held, in order
    #: while a write that may not wait runs (:meth:`writing`): document -> its updates, in order
    _gathered: dict[str, list[bytes]] | None = None

    if TYPE_CHECKING:

        def _forward(self, name: str, update: bytes, origin: str | None) -> None: ...

        def _took(self, name: str, update: bytes) -> None: ...

    @contextmanager
    def writing(self, until: float | None) -> Iterator[None]:
        """One write runs inside: with ``until``, its updates may wait until then (:attr:`linger_until`);
        without, each of its updates is gathered and, when the write ends (raising or not), they
        leave merged per document, with what waited for that document before them."""
        outer, outer_until = self._gathered, self.linger_until
        self.linger_until = until
        gathered = self._gathered = {} if until is None and outer is None else outer
        try:
            yield
        finally:
            self.linger_until, self._gathered = outer_until, outer
            if gathered and gathered is not outer:
                for name, updates in gathered.items():
                    self._send_merged(name, updates)

    def _send_merged(self, name: str, updates: list[bytes]) -> None:
        update = updates[0] if len(updates) == 1 else merge_updates(*updates)
        if len(updates) > 1:
            self._took(name, update)  # its echo applies nothing
        self._forward(name, update, None)

    def _outgoing(self, name: str, update: bytes) -> bytes | None:
        """A local write's update to send now (merged after what waits for ``name``), or None: held
        (until its deadline, or gathered until its write ends). A write that may not wait sends
        every document's held updates first."""
        until = self.linger_until
        if until is not None:
            self._lingering.setdefault(name, []).append(update)
            due = self._linger_due
            self._linger_due = until if due is None else min(due, until)
            return None
        gathered = self._gathered
        if gathered is not None:  # what waits joins the write's, each document's before its own
            lingering, self._lingering, self._linger_due = self._lingering, {}, None
            for doc, waiting in lingering.items():
                gathered.setdefault(doc, []).extend(waiting)
            # moved last: documents leave in the order of their last change (a number's mark
            # before its receipt, as before)
            ups = gathered[name] = gathered.pop(name, [])
            ups.append(update)
            return None
        held = self._lingering.pop(name, None)
        self.release_lingering()
        if held:
            update = merge_updates(*held, update)
            self._took(name, update)  # its echo applies nothing
        return update

    @property
    def lingering(self) -> int:
        """Updates of ours held (not yet sent to any session)."""
        return sum(len(updates) for updates in self._lingering.values())

    def holds(self, name: str, update: bytes) -> bool:
        """Whether this very update (a local write's, as its ``DocumentChanged`` carried it) waits."""
        return any(held is update for held in self._lingering.get(name, ()))

    @property
    def linger_due(self) -> float | None:
        """When what waits must leave (None: nothing waits)."""
        return self._linger_due

    def release_lingering(self) -> None:
        """Send what waits now, one merged update per document."""
        lingering, self._lingering = self._lingering, {}
        self._linger_due = None
        for name, updates in lingering.items():
            self._send_merged(name, updates)
