"""PIN guessing: a 4-digit PIN falls to 10,000 guesses, so wrong PINs are limited per user and per client.

A user is locked after ``USER_STRIKES`` wrong PINs in a row, a client address after ``CLIENT_STRIKES`` wrong
PINs within ``CLIENT_WINDOW_S`` (whichever users it tried). A lock lasts the node's ``pin_lockout_s`` and
doubles with each further lock, up to ``MAX_LOCK_FACTOR`` times; while it lasts every attempt is answered
429 with ``Retry-After`` and the PIN is not even checked, so the right PIN is refused too: the guesser
learns nothing. A check in progress counts as a strike already, so a burst of concurrent guesses cannot
slip in before the first wrong answers are counted. A lock is logged once, when it starts; the guesses it
refuses are counted (the node's ``pin_refused`` counter), not logged.

Both tables are bounded (``TRACKED`` entries each, the longest idle forgotten first): guesses under a
million made-up user names cost memory like any other four thousand.

**Changed** (outside, sixth round; the twentieth session): an attempt refused for a lock no longer makes
an entry, and a full table forgets the longest idle entry that is not locked. Before, a client already
locked could push ``TRACKED`` made-up names through the user table with cheap 429s and wipe another
user's lock, so the per-user lock, the one that holds against guessers on several addresses, fell to a
few thousand requests (tests/outside/test_pin_lock_forgotten.py).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from meshpos.httpapi.server import HttpError

log = logging.getLogger("meshpos.web")

USER_STRIKES = 5  # wrong PINs in a row that lock a user
CLIENT_STRIKES = 10  # wrong PINs from one address within CLIENT_WINDOW_S that lock the address
CLIENT_WINDOW_S = 60.0
MAX_LOCK_FACTOR = 32  # the n-th lock lasts min(2**(n-1), this) times the first
TRACKED = 4096  # users and addresses remembered, each


@dataclass(slots=True)
class _Strikes:
    """Wrong PINs against one user or from one client address."""

    failures: deque[float] = field(default_factory=deque)  # when, since the last lock or success
    pending: int = 0  # checks running now, counted as strikes in advance
    locked_until: float = 0.0
    lockouts: int = 0  # locks so far; the next one lasts twice as long as the last
    last: float = 0.0  # last wrong PIN or lock: a quiet period forgives earlier locks


@dataclass(slots=True)
class _Kind:
    """The strikes of every user, or of every client address."""

    what: str  # "user" or "client"
    limit: int
    window_s: float  # strikes older than this are forgotten
    table: OrderedDict[str, _Strikes] = field(default_factory=OrderedDict)

    def peek(self, key: str) -> _Strikes:
        """The strikes of ``key`` as they are, a blank one when unknown: nothing is remembered, so
        an attempt refused for a lock leaves no trace (made-up names then cannot crowd a lock out)."""
        return self.table.get(key) or _Strikes()

    def get(self, key: str, now: float) -> _Strikes:
        entry = self.table.get(key)
        if entry is None:
            entry = self.table[key] = _Strikes()
            if len(self.table) > TRACKED:
                self._forget_one(key, now)
        self.table.move_to_end(key)
        return entry

    def _forget_one(self, new: str, now: float) -> None:
        """Drop the longest idle entry but ``new`` that is not locked (the longest idle of all if
        every one is): a lock must outlast a flood of other names (outside, sixth round)."""
        for key, entry in self.table.items():
            if key != new and entry.locked_until <= now:
                del self.table[key]
                return
        self.table.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One admitted PIN check: what :meth:`PinGuard.finish` must be told about."""

    user: str
    client: str


class PinGuard:
    def __init__(
        self,
        lockout_s: float,
        counters: Counter[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lockout_s = lockout_s
        self.counters: Counter[str] = counters if counters is not None else Counter()
        self.clock = clock
        self.users = _Kind("user", USER_STRIKES, lockout_s * MAX_LOCK_FACTOR)
        self.clients = _Kind("client", CLIENT_STRIKES, CLIENT_WINDOW_S)

    def admit(self, user: str, client: str) -> Attempt:
        """Reserve one PIN check, or raise 429 ``pin_locked`` when the user or the client is locked or
        the checks already running would use up its strikes."""
        now = self.clock()
        for kind, key in ((self.users, user), (self.clients, client)):
            entry = kind.peek(key)
            self._forget(kind, entry, now)
            if entry.locked_until > now:
                self._refuse(kind, key, entry.locked_until - now)
            if len(entry.failures) + entry.pending >= kind.limit:
                self._refuse(kind, key, self._lock_length(entry))
        self.users.get(user, now).pending += 1
        self.clients.get(client, now).pending += 1
        return Attempt(user, client)

    def finish(self, attempt: Attempt, ok: bool) -> None:
        """Count the outcome of an admitted check; lock a user or client on its last strike."""
        now = self.clock()
        for kind, key in ((self.users, attempt.user), (self.clients, attempt.client)):
            entry = kind.get(key, now)
            entry.pending = max(0, entry.pending - 1)
            if ok:
                if kind is self.users:  # a client's right PIN does not buy its guesses more strikes
                    entry.failures.clear()
                    entry.lockouts = 0
                continue
            entry.failures.append(now)
            entry.last = now
            if len(entry.failures) >= kind.limit and entry.locked_until <= now:
                length = self._lock_length(entry)
                entry.locked_until = now + length
                entry.lockouts += 1
                entry.failures.clear()
                self.counters["pin_lockouts"] += 1
                log.warning(
                    "PIN guessing: %s %s locked for %.0f s after %d wrong PINs (lock %d)",
                    kind.what,
                    key,
                    math.ceil(length),
                    kind.limit,
                    entry.lockouts,
                )
        if not ok:
            self.counters["pin_wrong"] += 1

    def _lock_length(self, entry: _Strikes) -> float:
        return self.lockout_s * float(min(2**entry.lockouts, MAX_LOCK_FACTOR))

    def _forget(self, kind: _Kind, entry: _Strikes, now: float) -> None:
        while entry.failures and now - entry.failures[0] > kind.window_s:
            entry.failures.popleft()
        forgive_s = self.lockout_s * MAX_LOCK_FACTOR  # as long as the longest lock
        if entry.lockouts and entry.locked_until <= now and now - entry.last > forgive_s:
            entry.lockouts = 0  # quiet long enough: the next lock is a first one again

    def _refuse(self, kind: _Kind, key: str, wait_s: float) -> None:
        self.counters["pin_refused"] += 1
        seconds = max(1, math.ceil(wait_s))
        whom = f"user {key}" if kind is self.users else f"this device ({key})"
        raise HttpError(
            429,
            "pin_locked",
            f"too many wrong PINs for {whom}: PIN login is locked, try again in {seconds} s",
            {"Retry-After": str(seconds)},
        )
