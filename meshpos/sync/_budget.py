"""What one peer may make this node do: token buckets on the time the caller passes in (no clock).

A session charges its peer's messages, heartbeats, awareness updates, bytes of updates and repeated sync
step 1s to a :class:`PeerBudget`; a peer past one is aborted. The bytes of sync step 2 replies have a bucket
per device that only makes further replies wait (docs/architecture.md (Security)).
"""

from __future__ import annotations

from dataclasses import dataclass

from meshpos.errors import LocalProtocolError


@dataclass(frozen=True, slots=True)
class Allowance:
    """A token bucket's shape: ``burst`` at once, then ``rate`` per second."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise LocalProtocolError("an allowance needs a positive rate and a burst of at least 1")


@dataclass(frozen=True, slots=True)
class PeerBudget:
    """What one peer may make this node do. Each figure is far above what an honest node sends (its
    heartbeat interval is at least 0.05 s; a relay forwards a busy venue's few hundred updates a second;
    it asks for a document again only at anti-entropy), and far below what a flood needs to hurt."""

    messages: Allowance = Allowance(rate=2048, burst=16384)
    heartbeats: Allowance = Allowance(rate=40, burst=64)
    # awareness updates: nodes send none; a browser's cursor a few a second
    awareness: Allowance = Allowance(rate=64, burst=256)
    # bytes of updates (sync step 2 and update) to decode: a catch-up on a large day at once, then far
    # more than a venue writes, far less than keeps a node decoding replays all day
    update_bytes: Allowance = Allowance(rate=4 * 2**20, burst=256 * 2**20)
    # sync step 1s for a document whose last reply went less than ``reply_interval`` ago: coalesced and
    # cheap, but only a broken or hostile peer sends hundreds a second
    repeated_step1: Allowance = Allowance(rate=256, burst=1024)
    # bytes of sync step 2 replies, per device across its links: the burst is a catch-up on a large day,
    # the rate far above what honest anti-entropy needs once in sync. Past it, replies wait (coalesced)
    # until the bucket refills: a device asking for everything again and again is slowed, never fed.
    reply_bytes: Allowance = Allowance(rate=2**20, burst=64 * 2**20)


class TokenBucket:
    """A token bucket on a time the caller passes in (sessions have no clock of their own: tick time)."""

    __slots__ = ("allowance", "at", "tokens")

    def __init__(self, allowance: Allowance) -> None:
        self.allowance = allowance
        self.tokens = allowance.burst
        self.at: float | None = None

    def refill(self, now: float) -> float:
        if self.at is None or now < self.at:
            self.at = now
        elif now > self.at:
            rate, burst = self.allowance.rate, self.allowance.burst
            self.tokens = min(burst, self.tokens + (now - self.at) * rate)
            self.at = now
        return self.tokens

    def take(self, now: float, amount: float = 1.0) -> bool:
        if self.refill(now) < amount:
            return False
        self.tokens -= amount
        return True
