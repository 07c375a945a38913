"""The PIN-guessing limits on a hand-driven clock: locks grow, a quiet period forgives them, a right PIN
clears a user's strikes but not a client's, and the tables stay bounded under made-up names."""

from __future__ import annotations

from collections import Counter

import pytest

from meshpos.httpapi.server import HttpError
from meshpos.web.pins import (
    CLIENT_STRIKES,
    MAX_LOCK_FACTOR,
    TRACKED,
    USER_STRIKES,
    PinGuard,
)

LOCK_S = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _guess(guard: PinGuard, user: str, client: str = "10.0.0.1", ok: bool = False) -> None:
    guard.finish(guard.admit(user, client), ok)


def _refusal(guard: PinGuard, user: str, client: str = "10.0.0.1") -> HttpError:
    with pytest.raises(HttpError) as refused:
        guard.admit(user, client)
    assert (refused.value.status, refused.value.code) == (429, "pin_locked")
    return refused.value


def test_a_users_lock_doubles_each_time_up_to_the_cap_and_a_quiet_period_forgives_it() -> None:
    clock, counters = Clock(), Counter[str]()
    guard = PinGuard(LOCK_S, counters, clock)
    lengths: list[int] = []
    for _ in range(8):
        for _ in range(USER_STRIKES):
            _guess(guard, "u-anna", client=f"10.0.0.{len(lengths)}")  # one client per round
        lengths.append(int(_refusal(guard, "u-anna").headers["Retry-After"]))
        clock.now += lengths[-1]
    assert lengths == [int(LOCK_S * min(2**n, MAX_LOCK_FACTOR)) for n in range(8)]
    assert counters["pin_lockouts"] == 8
    clock.now += LOCK_S * MAX_LOCK_FACTOR + 1  # quiet as long as the longest lock
    for _ in range(USER_STRIKES):
        _guess(guard, "u-anna", client="10.0.1.1")
    assert int(_refusal(guard, "u-anna").headers["Retry-After"]) == LOCK_S


def test_a_right_pin_clears_the_users_strikes_but_not_the_clients() -> None:
    guard = PinGuard(LOCK_S, clock=Clock())
    for _ in range(USER_STRIKES - 1):
        _guess(guard, "u-anna")
    _guess(guard, "u-anna", ok=True)
    for _ in range(USER_STRIKES - 1):
        _guess(guard, "u-anna")  # the user is not locked: the right PIN wiped the earlier strikes
    for i in range(CLIENT_STRIKES - 2 * (USER_STRIKES - 1)):
        _guess(guard, f"u-other-{i}")
    refusal = _refusal(guard, "u-max")  # the address used up its strikes across users
    assert "this device (10.0.0.1)" in refusal.message


def test_checks_in_flight_count_as_strikes() -> None:
    guard = PinGuard(LOCK_S, clock=Clock())
    running = [guard.admit("u-anna", f"10.0.0.{i}") for i in range(USER_STRIKES)]
    _refusal(guard, "u-anna", "10.0.9.9")  # five checks are running: a sixth would exceed the limit
    for attempt in running:
        guard.finish(attempt, ok=False)
    _refusal(guard, "u-anna", "10.0.9.9")


def test_the_tables_stay_bounded_under_made_up_names() -> None:
    guard = PinGuard(LOCK_S, clock=Clock())
    for i in range(TRACKED * 2):
        _guess(guard, f"u-made-up-{i}", client=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(guard.users.table) == TRACKED
    assert len(guard.clients.table) == TRACKED


def test_a_lock_outlasts_a_flood_of_other_names_and_a_full_table_of_locks() -> None:
    """Made-up names from fresh addresses, each one wrong PIN, do not push a locked user out of the
    full table (outside, sixth round); when every entry is locked the longest idle goes, never the
    newcomer."""
    clock = Clock()
    guard = PinGuard(LOCK_S, clock=clock)
    for _ in range(USER_STRIKES):
        _guess(guard, "u-max")
    for i in range(TRACKED * 2):
        _guess(guard, f"u-made-up-{i}", client=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(guard.users.table) == TRACKED
    _refusal(guard, "u-max", "10.9.9.9")

    full = PinGuard(LOCK_S, clock=clock)
    full.users.limit = 1  # one wrong PIN locks: a table of locks without millions of guesses
    for i in range(TRACKED + 1):
        _guess(full, f"u-{i}", client=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(full.users.table) == TRACKED
    assert "u-0" not in full.users.table
    assert f"u-{TRACKED}" in full.users.table
