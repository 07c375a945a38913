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
    # bytes of heartbeats, charged before a heartbeat is decoded (a 4 MB one takes ~0.25 s of CPU,
    # and 64 of them at once stalled a node for seconds): an honest beat is ~1-2 kB, up to ~50 kB
    # from the console or while a link is welcomed, far below this
    heartbeat_bytes: Allowance = Allowance(rate=256 * 2**10, burst=8 * 2**20)
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
    # devices' signed words (``_held_signed``) in heartbeats, each a signature to check when new (~0.1
    # ms): honest links carry a few a second (~8 at 6 devices and 100 receipts/s; a new link's
    # backlog at once); the heartbeats' own budget let one enrolled device make a node check ~2,500
    # a second (64 a beat, 40 beats a second), a quarter of a CPU
    signed_words: Allowance = Allowance(rate=128, burst=1024)


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


@dataclass(frozen=True, slots=True)
class ReopenBudget:
    """What peers may make this node load of its closed business days.

    docs/architecture.md (Documents): opening a closed day costs memory in proportion to the day, and
    any enrolled device can ask for any day, so days opened on a peer's behalf (until they close again) are bounded overall and
    per device, and what waits for them (parked updates) is bounded in bytes. A register back after a
    fortnight offline needs a fortnight of days, a few at a time: what is deferred comes again with
    anti-entropy once a day closes again (``DayCloser``'s rule) and frees its place."""

    at_once: int = 8  # closed days open on peers' behalf at once (asked for, loading or loaded)
    per_device: int = 4  # of those, at most this many for one device
    # days one device may have opened: a catch-up's few at once, then one per 30 s
    device_rate: Allowance = Allowance(rate=1 / 30, burst=4)
    parked_bytes: int = 16 * 2**20  # updates parked for every closed day together

    def __post_init__(self) -> None:
        if not 1 <= self.per_device <= self.at_once or self.parked_bytes < 1:
            raise LocalProtocolError(
                "a reopen budget needs 1 <= per_device <= at_once and a positive parked_bytes"
            )
