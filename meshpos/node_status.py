"""What a register shows about its sync: colour, pending count and the one-line message (ARCHITECTURE.md: Status).

* green — data flows to the console: this node is the relay with an authenticated link the console takes
  its data on, or a live peer is the relay and says so (a relay whose token is refused, or whose uploads
  stop being acknowledged, gives the role up within a few seconds: it never stays green);
* yellow — peers on the LAN are reachable but no data flows to the console; the message says why, in the
  words of the device that knows ("the console refused R3: wrong venue token");
* gray — no peers and no console: this node is on its own.

``pending`` counts the clock units this replica holds that the console's state vectors (learnt from the
relay's heartbeats, or by this node when it is the relay) do not: never green-and-zero while something
local is not at the console. "All data is synced" is shown exactly when the colour is green, pending is 0
and the console has put everything it holds into its reports (``not_in_reports`` is 0: the console tells
the relay how many records it cannot report, and why, and the relay tells every register).
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
    problems: dict[str, str] = field(default_factory=dict)  # node id -> why it has no console link
    not_in_reports: int = 0  # records the console holds but cannot put in its reports
    not_in_reports_reason: str = ""
    synced: bool = (
        False  # the message is "All data is synced": green, nothing pending or unreported
    )

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
        total = self.upload.get("total", 0)
        if total and self.upload.get("done", 0) < total:  # a finished upload is not news
            lines.append(f"  uploading {self.upload['done']:,} / {total:,}")
        for node, problem in sorted(self.problems.items()):
            lines.append(f"  console link of {node}: {problem}")
        if self.not_in_reports:
            lines.append(
                f"  not in the console's reports: {self.not_in_reports:,} ({self.not_in_reports_reason})"
            )
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
) -> NodeStatus:
    presence = sync.presence
    relay = sync.relay
    # a relay that gave the role up and tries again keeps its problem until data is seen flowing
    relay_up = (uplink and not sync.problem) or (
        relay is not None
        and relay != node_id
        and relay in presence
        and presence[relay].relay
        and presence[relay].uplink
        and not presence[relay].problem
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
    problems = {n: hb.problem for n, hb in presence.items() if hb.problem and n != node_id}
    if sync.problem:
        problems[node_id] = sync.problem
    unreported, unreported_reason = sync.console_report
    message = _message(colour, pending, problems, unreported, unreported_reason)
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
        problems=dict(sorted(problems.items())),
        not_in_reports=unreported,
        not_in_reports_reason=unreported_reason,
        synced=message == ALL_SYNCED,
    )


def _changes(n: int) -> str:
    return "1 change is" if n == 1 else f"{n:,} changes are"


def _message(
    colour: str, pending: int, problems: dict[str, str], unreported: int, unreported_reason: str
) -> str:
    """The one line a cashier reads. "All data is synced" only when it is entirely true: data flows
    to the console, nothing here is missing there, and the console reports everything it holds."""
    if colour == "green":
        if pending:
            message = f"{_changes(pending)} on their way to the console"
        elif not unreported:
            return ALL_SYNCED
        else:
            message = "Everything is at the console"
    else:
        why = "; ".join(problems[n] for n in sorted(problems)) or (
            "no device reaches the console" if colour == "yellow" else "no other device, no console"
        )
        if pending:
            message = f"{_changes(pending)} not at the console yet: {why}"
        else:
            message = f"No changes waiting, but no data flows to the console: {why}"
    if unreported:
        records = "1 record is" if unreported == 1 else f"{unreported:,} records are"
        message += f"; {records} not in the console's reports: {unreported_reason}"
    return message
