"""What the console's reports lack, per device, kept up to date per register (issue 18, status).

Each received receipt moves one register's counts of one day. A status after it computed what the
console lacks of every register of every open day again, summed every device's gap again and took
the maximum with every peer's told counts again: work that grew with the venue, done for every
receipt every device receives. Here each part is kept on what it is computed from and computed again
only where that moved: a day's gap per register when the day's tally says that register moved
(:meth:`~meshpos.model.tally.LedgerTally.take_moved`) or the console's reports of it differ, every
register of the day when the day was counted afresh; a device's owed counts
when its gaps or its told counts differ from those it was last summed from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshpos.model.tally import LedgerTally, Tally, add, missing_by_register

_NONE: dict[str, int] = {}


@dataclass(slots=True)
class _Day:
    """One open day's gaps per register, with what they were computed from."""

    tally: LedgerTally
    reports: Tally  # a copy of the console's reports they were computed against
    recounts: int
    version: int
    gaps: Tally = field(default_factory=dict)  # kept read only: a new dict when a gap moves


class OwedCounts:
    """Per open ledger day, what the console's reports lack per register (:meth:`day`), and per
    device, what the venue's records lack at the console (:meth:`count`)."""

    def __init__(self) -> None:
        self._days: dict[str, _Day] = {}
        # device -> (its gap per day and its told counts, as last summed; what they summed to)
        self._devices: dict[str, tuple[tuple[object, ...], dict[str, int]]] = {}
        self._last: tuple[tuple[Tally, ...], dict[str, dict[str, int]], dict[str, dict[str, int]]]
        self._last = ((), {}, {})
        self.computed = 0  # gaps of a register computed (for tests: counted deterministically)

    def day(self, name: str, tally: LedgerTally, reports: Tally) -> Tally:
        """Per register, what of day ``name`` (counted by ``tally``) the console's ``reports`` lack
        (registers with nothing missing left out). The same object as long as nothing in it
        moved; never changed once returned. The reports are compared by what they say (a register
        whose reported counts differ is computed again): ``status_version``, which moves when they
        rise, moves for much else too (a peer came, went, said something new)."""
        known = self._days.get(name)
        if known is None or known.tally is not tally or known.recounts != tally.recounts:
            tally.take_moved()
            gaps = missing_by_register(tally.counts(), reports)
            self.computed += len(gaps)
            self._days[name] = _Day(tally, _copy(reports), tally.recounts, tally.version, gaps)
            return gaps
        moved = tally.take_moved() if known.version != tally.version else set()
        known.version = tally.version
        if known.reports != reports:
            was = known.reports
            moved.update(r for r in reports.keys() | was.keys() if reports.get(r) != was.get(r))
            known.reports = _copy(reports)
        if moved:
            gaps = dict(known.gaps)
            for register in moved:
                gap = missing_by_register(
                    {register: tally.register_counts(register)},
                    {register: reports.get(register, _NONE)},
                ).get(register)
                self.computed += 1
                if gap:
                    gaps[register] = gap
                else:
                    gaps.pop(register, None)
            known.gaps = gaps
        return known.gaps

    def forget(self, name: str) -> None:
        self._days.pop(name, None)

    def count(
        self, days: tuple[Tally, ...], told: dict[str, dict[str, int]]
    ) -> dict[str, dict[str, int]]:
        """Per device, what the console's reports lack: the sum of its gaps over ``days`` (from
        :meth:`day`), at least what it told itself (``told``: a peer's own owed counts, it may
        hold records this node has not received). The same object as long as nothing moved;
        a device's counts are the same object as long as its own inputs did not move."""
        last_days, last_told, last = self._last
        if (
            len(last_days) == len(days)
            and all(a is b for a, b in zip(last_days, days, strict=True))
            and last_told == told
        ):
            return last
        devices: dict[str, None] = {}
        for gaps in days:
            devices.update(dict.fromkeys(gaps))
        devices.update(dict.fromkeys(told))
        kept = self._devices
        memo: dict[str, tuple[tuple[object, ...], dict[str, int]]] = {}
        owed: dict[str, dict[str, int]] = {}
        (one,) = days if len(days) == 1 else (None,)  # (one open day: most often)
        for device in devices:
            if one is not None:
                inputs: tuple[object, ...] = (one.get(device), told.get(device))
            else:
                inputs = (*(gaps.get(device) for gaps in days), told.get(device))
            prior = kept.get(device)
            if prior is not None and prior[0] == inputs:
                sums = prior[1]
            else:
                sums = {}
                for gaps in days:
                    add(sums, gaps.get(device, _NONE))
                for kind, n in told.get(device, _NONE).items():
                    sums[kind] = max(sums.get(kind, 0), n)
            memo[device] = (inputs, sums)
            if sums:
                owed[device] = sums
        self._devices = memo
        self._last = (days, dict(told), owed)
        return owed


def _copy(reports: Tally) -> Tally:
    return {register: dict(counts) for register, counts in reports.items()}
