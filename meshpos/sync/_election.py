"""Relay election: a pure function of one node's view, so every node with the same view picks the same relay.

* Candidates are live nodes with uplink (they can reach the console).
* The current relay keeps the role while it is a candidate: a node that claims the relay role is preferred
  over every node that does not, so a newcomer with a lower priority never takes over (no flapping).
* When several candidates claim (two parts of a split mesh healed), the lowest ``(priority, node id)``
  among the claimants keeps the role and the others step down; with no claimant the lowest
  ``(priority, node id)`` of all candidates wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    node: str
    priority: int
    uplink: bool
    relay_claim: bool


def elect(view: Iterable[Candidate]) -> str | None:
    """The relay for this view, or None when no live node has uplink."""
    candidates = [c for c in view if c.uplink]
    if not candidates:
        return None
    claimants = [c for c in candidates if c.relay_claim]
    pool = claimants or candidates
    return min(pool, key=lambda c: (c.priority, c.node)).node
