"""A hybrid logical clock, so that 'the later change wins' holds across devices with skewed clocks.

pycrdt resolves concurrent writes to one key by client id, which is arbitrary for people: a stop set at 12:05
on register 2 could lose to an un-stop set at 12:00 on register 1. Records that must resolve by time carry an
HLC stamp instead and readers pick the highest. Wall time comes in as an argument; the model never reads clocks.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshpos.digits import ascii_digits
from meshpos.errors import CorruptRecord


@dataclass(frozen=True, order=True, slots=True)
class Stamp:
    wall_ms: int
    counter: int
    node: str

    def encode(self) -> str:
        return f"{self.wall_ms:013d}.{self.counter:05d}.{self.node}"

    @classmethod
    def decode(cls, text: object, where: str = "stamp") -> Stamp:
        if isinstance(text, str):
            parts = text.split(".", 2)
            if len(parts) == 3 and ascii_digits(parts[0]) and ascii_digits(parts[1]) and parts[2]:
                return cls(int(parts[0]), int(parts[1]), parts[2])
        raise CorruptRecord(f"{where}: {text!r} is not a clock stamp")


class HybridClock:
    """Issues stamps that are ahead of every stamp this node has seen and never go backwards."""

    def __init__(self, node: str) -> None:
        self.node = node
        self._last = Stamp(0, 0, node)

    def now(self, wall_ms: int) -> Stamp:
        if wall_ms > self._last.wall_ms:
            self._last = Stamp(wall_ms, 0, self.node)
        else:
            self._last = Stamp(self._last.wall_ms, self._last.counter + 1, self.node)
        return self._last

    def observe(self, seen: Stamp) -> None:
        """Move past a stamp read from another device, so our next change sorts after it."""
        if (seen.wall_ms, seen.counter) > (self._last.wall_ms, self._last.counter):
            self._last = Stamp(seen.wall_ms, seen.counter, self.node)
