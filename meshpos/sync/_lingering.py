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

**Changed** (issue 18, marks): a part of a write may wait **on its own** (:meth:`Lingering.lazily`,
a receipt number's mark): held through the urgent writes that follow (they change other documents),
it leaves at its own deadline, with a later write of ours to its document (taken first), or when
``at_most`` wait for one document. A tap's deadline sends the taps, not these; theirs sends these.
Why and what it costs the numbering: ``model/numbering.py``.

Nothing acknowledged can be lost: what waits here is committed, so a restart's catch-up sends it. No
status is more optimistic: what waits is in no peer's state vector, so the durability count and the
pending counts (read from what the peers and the console say they hold) still count it as ours alone.
A mixin of :class:`~meshpos.sync._synchronizer.Synchronizer`, which owns the state named below.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
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

    def writing(self, until: float | None) -> _Writing:
        """One write runs inside: with ``until``, its updates may wait until then (:attr:`linger_until`);
        without, each of its updates is gathered and, when the write ends (raising or not), they
        leave merged per document, with what waited for that document before them. **Changed**
        (issue 18, seller, the twenty-second session): a class (:class:`_Writing`), not a
        ``@contextmanager`` generator: 4 Python calls a write instead of ~10."""
        return _Writing(self, until)

    def _send_merged(self, name: str, updates: list[bytes]) -> None:
        update = updates[0] if len(updates) == 1 else merge_updates(*updates)
        if len(updates) > 1:
            self._took(name, update)  # its echo applies nothing
        self._forward(name, update, None)

    def _outgoing(self, name: str, update: bytes) -> bytes | None:
        """A local write's update to send now (merged after what waits for ``name``), or None: held
        (until its deadline, or gathered until its write ends). A write that may not wait sends
        every document's held taps first; what waits on its own (:meth:`lazily`) only when it
        changes that document."""
        if self._held_lazily(name, update):
            return None
        until = self.linger_until
        if until is not None:
            held = self._lingering.setdefault(name, self._absorb_lazy(name))
            held.append(update)
            self._tap_due = until if self._tap_due is None else min(self._tap_due, until)
            self._due_again()
            return None
        gathered = self._gathered
        if gathered is not None:  # what waits joins the write's, each document's before its own
            lingering, self._lingering, self._tap_due = self._lingering, {}, None
            self._due_again()
            for doc, waiting in lingering.items():
                gathered.setdefault(doc, []).extend(waiting)
            # moved last: documents leave in the order of their last change
            ups = gathered.pop(name) if name in gathered else self._absorb_lazy(name)
            gathered[name] = ups
            ups.append(update)
            return None
        held = self._absorb_lazy(name) + self._lingering.pop(name, [])
        self._release_taps()
        if held:
            update = merge_updates(*held, update)
            self._took(name, update)  # its echo applies nothing
        return update

    @property
    def lingering(self) -> int:
        """Updates of ours held (not yet sent to any session), taps and lazy ones."""
        held = (*self._lingering.values(), *self._lazy.values())
        return sum(len(updates) for updates in held)

    def holds(self, name: str, update: bytes) -> bool:
        """Whether this very update (a local write's, as its ``DocumentChanged`` carried it) waits as
        a tap (a commit of nothing but such taps may skip its fsync; a lazy update never lets it)."""
        return any(held is update for held in self._lingering.get(name, ()))

    @property
    def linger_due(self) -> float | None:
        """When what waits must leave (None: nothing waits)."""
        return self._linger_due

    def release_lingering(self) -> None:
        """Send everything that waits now, one merged update per document."""
        self._release_taps()
        lazy, self._lazy, self._lazy_due = self._lazy, {}, None
        self._due_again()
        for name, updates in lazy.items():
            self._send_merged(name, updates)

    def _release_taps(self) -> None:
        lingering, self._lingering, self._tap_due = self._lingering, {}, None
        self._due_again()
        for name, updates in lingering.items():
            self._send_merged(name, updates)

    # --- updates that wait their own deadline: a receipt number's mark (**Changed**, issue 18, marks) ---

    #: set around a change whose update may wait on its own (:meth:`lazily`): until when, and how many
    #: such updates of one document may wait at once before they leave
    lazy_until: float | None = None
    lazy_at_most: int = 0
    _lazy: dict[str, list[bytes]]  # document -> our updates waiting on their own, in order
    _lazy_due: float | None = None
    _tap_due: float | None = None  # the earliest deadline of the taps in ``_lingering``

    @contextmanager
    def lazily(self, until: float, at_most: int) -> Iterator[None]:
        """The updates made inside may wait until ``until`` even through a write that may not wait,
        unless that write changes their document too (then they leave first, merged with its own), or
        ``at_most`` of them wait for one document (then they all leave)."""
        outer = self.lazy_until, self.lazy_at_most
        self.lazy_until, self.lazy_at_most = until, at_most
        try:
            yield
        finally:
            self.lazy_until, self.lazy_at_most = outer

    def _held_lazily(self, name: str, update: bytes) -> bool:
        """Hold ``update`` on its own if it may wait so (nothing of ours for ``name`` waits or is
        gathered otherwise, or it would overtake it); False: it goes the usual way."""
        until = self.lazy_until
        gathered = self._gathered
        if until is None or name in self._lingering or (gathered is not None and name in gathered):
            return False
        held = self._lazy.setdefault(name, [])
        held.append(update)
        if len(held) >= self.lazy_at_most:  # (what a reborn register's learner skips: numbering)
            self._send_merged(name, self._absorb_lazy(name))
            return True
        self._lazy_due = until if self._lazy_due is None else min(self._lazy_due, until)
        self._due_again()
        return True

    def _absorb_lazy(self, name: str) -> list[bytes]:
        """What waits on its own for ``name``: taken out to leave before a later update of ours."""
        held = self._lazy.pop(name, [])
        if held and not self._lazy:
            self._lazy_due = None
            self._due_again()
        return held

    def _due_again(self) -> None:
        dues = [due for due in (self._tap_due, self._lazy_due) if due is not None]
        self._linger_due = min(dues) if dues else None

    def release_due(self, now: float) -> None:
        """Send what waits whose deadline is ``now`` or past: the taps, the lazy updates, or both."""
        if self._tap_due is not None and now >= self._tap_due:
            self._release_taps()
        if self._lazy_due is not None and now >= self._lazy_due:
            lazy, self._lazy, self._lazy_due = self._lazy, {}, None
            for name, updates in lazy.items():
                self._send_merged(name, updates)
        self._due_again()


class _Writing:
    """:meth:`Lingering.writing`'s context: what the write changes, gathered or held as it says."""

    __slots__ = ("_gathered", "_outer", "_outer_until", "_sync", "_until")

    def __init__(self, sync: Lingering, until: float | None) -> None:
        self._sync, self._until = sync, until

    def __enter__(self) -> None:
        sync, until = self._sync, self._until
        outer = self._outer = sync._gathered
        self._outer_until = sync.linger_until
        sync.linger_until = until
        self._gathered = sync._gathered = {} if until is None and outer is None else outer

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        sync, outer, gathered = self._sync, self._outer, self._gathered
        sync.linger_until, sync._gathered = self._outer_until, outer
        if gathered and gathered is not outer:
            for name, updates in gathered.items():
                sync._send_merged(name, updates)
