"""What a register shows about its sync: colour, pending count and the one-line message (ARCHITECTURE.md: Status).

* green — a path to the console exists: this node is connected to it, or a live peer is the relay and says
  its uplink is up;
* yellow — peers on the LAN are reachable but there is no path to the console;
* gray — no peers and no console: this node is on its own.

``pending`` counts the clock units this replica holds that the console's state vectors (learnt from the
relay's heartbeats, or by this node when it is the relay) do not: never green-and-zero while something
local is not at the console. "All data is synced" is shown exactly when pending is 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from meshpos.sync import Synchronizer

ALL_SYNCED = "All data is synced"


@dataclass(frozen=True, slots=True)
class NodeStatus:
    node: str
    role: str
    colour: str
    pending: int
    message: str
    relay: str | None
    is_relay: bool
    uplink: bool
    peers: dict[str, bool]  # node id -> initial sync done
    pending_by_document: dict[str, int]
    receipts: int
    uptime_s: float
    refusals: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    upload: dict[str, int] = field(default_factory=dict)  # relay only: {"done": n, "total": m}
    receipt_numbers_known: bool = (
        True  # False: a register with a new database that may not sell yet
    )
    corrupt_records: int = 0  # records this node's reads skip because they do not parse (an alarm)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """The text a person reads: colour, message, peers and relay."""
        live = sorted(self.peers)
        lines = [
            f"{self.node} ({self.role}): {self.colour.upper()} — {self.message}",
            f"  peers: {', '.join(live) if live else 'none'}",
            f"  relay: {self.relay or 'none'}{' (this node)' if self.is_relay else ''}"
            f"; console {'reachable' if self.colour == 'green' else 'not reachable'}",
            f"  receipts on this node: {self.receipts:,}",
        ]
        if not self.receipt_numbers_known:
            lines.append(
                "  receipt numbers: unknown (a new database): sells once in sync with a peer or "
                "the console, or after meshpos node --new-receipt-series"
            )
        if self.corrupt_records:
            lines.append(
                f"  ALARM: {self.corrupt_records:,} corrupt record(s) skipped; the rest of the day works"
            )
        if self.upload.get("total"):
            lines.append(f"  uploading {self.upload['done']:,} / {self.upload['total']:,}")
        if self.refusals:
            refused = ", ".join(f"{k} {v}" for k, v in sorted(self.refusals.items()))
            lines.append(f"  refused connections: {refused}")
        return "\n".join(lines)


def compute_status(
    *,
    node_id: str,
    role: str,
    sync: Synchronizer,
    peers: dict[str, bool],
    uplink: bool,
    receipts: int,
    uptime_s: float,
    refusals: dict[str, int] | None = None,
    counters: dict[str, int] | None = None,
    upload: dict[str, int] | None = None,
    corrupt_records: int = 0,
) -> NodeStatus:
    presence = sync.presence
    relay = sync.relay
    relay_up = uplink or (
        relay is not None
        and relay != node_id
        and relay in presence
        and presence[relay].relay
        and presence[relay].uplink
    )
    if relay_up:
        colour = "green"
    elif peers or presence:
        colour = "yellow"
    else:
        colour = "gray"
    by_doc = {name: sync.pending(name) for name in sorted(sync.docs)}
    by_doc = {name: n for name, n in by_doc.items() if n}
    pending = sum(by_doc.values())
    if pending == 0:
        message = ALL_SYNCED
    elif colour == "green":
        message = f"{pending:,} changes are on their way to the console"
    else:
        message = f"{pending:,} changes are not at the console yet"
    return NodeStatus(
        node=node_id,
        role=role,
        colour=colour,
        pending=pending,
        message=message,
        relay=relay,
        is_relay=sync.is_relay,
        uplink=uplink,
        peers=dict(sorted(peers.items())),
        pending_by_document=by_doc,
        receipts=receipts,
        uptime_s=round(uptime_s, 3),
        refusals=dict(refusals or {}),
        counters=dict(counters or {}),
        upload=dict(upload or {}),
        corrupt_records=corrupt_records,
    )
