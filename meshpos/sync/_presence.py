"""Presence: who is alive, as told by heartbeats over the mesh's own connections (never by mDNS).

A peer is gone once ``timeout`` seconds pass without a heartbeat from it (a few missed heartbeats).
"""

from __future__ import annotations

from dataclasses import dataclass

from meshpos.sync._messages import Heartbeat


@dataclass(frozen=True, slots=True)
class PeerPresence:
    heartbeat: Heartbeat
    last_seen: float


class PresenceTable:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._peers: dict[str, PeerPresence] = {}

    def observe(self, heartbeat: Heartbeat, now: float) -> bool:
        """Record a heartbeat; True when the node was not present before."""
        new = heartbeat.node not in self._peers
        self._peers[heartbeat.node] = PeerPresence(heartbeat, now)
        return new

    def expire(self, now: float) -> list[str]:
        """Drop and return the nodes whose last heartbeat is older than the timeout."""
        gone = sorted(n for n, p in self._peers.items() if now - p.last_seen > self.timeout)
        for node in gone:
            del self._peers[node]
        return gone

    def forget(self, node: str) -> None:
        self._peers.pop(node, None)

    def get(self, node: str) -> PeerPresence | None:
        return self._peers.get(node)

    @property
    def live(self) -> dict[str, Heartbeat]:
        return {n: p.heartbeat for n, p in sorted(self._peers.items())}
