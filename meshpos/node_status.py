"""What a register shows about its sync: colour, pending count and the one-line message.

See docs/architecture.md (Status).

* green — data flows to the console: this node is the relay with an authenticated link the console takes
  its data on, or a live peer is the relay and says so (a relay whose token is refused, or whose uploads
  stop being acknowledged, gives the role up within a few seconds and says why: it is never green);
* yellow — peers on the LAN are reachable but no data flows to the console; the message says why, in the
  words of the device that knows ("the console refused R3: wrong venue token");
* gray — no peers and no console: this node is on its own.

What is not at the console is said in the venue's words (meshpos.model.tally): this register's own
receipts, payments, refunds, shift openings and closings, cash and stock movements that the console's
*reports* do not hold yet (the console counts what it has materialised and the relay passes the counts on),
and the venue's: what this node holds of other registers, and what every reachable peer says it owes.
Other changes (open orders, kitchen tickets, the stop list) are known from the console's state vectors.
Records the console holds but cannot materialise (a corrupt one) are not in its reports either: the console
tells the relay how many and why (``not_in_reports``), the relay tells every register, and the message
names them. "All data is synced" is shown exactly when none of these is missing and no reason is known why
data does not flow; ``pending`` is then 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any

from meshpos.model.tally import UNKNOWN_REGISTER, add, describe
from meshpos.sync import Heartbeat, Synchronizer

ALL_SYNCED = "All data is synced"
OTHER_CHANGES = "changes to open orders, kitchen tickets or the stop list"
# the badge next to the colour: never "Synced" unless green and nothing is missing
LABELS = {"green": "Synced", "yellow": "No console", "gray": "On its own"}
NOT_IN_REPORTS = "Not in reports"  # the badge while the console holds records it cannot report


@dataclass(frozen=True, slots=True)
class Durability:
    """On how many devices a receipt is committed, so a cashier knows a sale survives losing this
    device even while offline. Counted from the state vectors peers send (never more than they hold)."""

    receipt: str  # its number, e.g. R2-000123
    devices: int  # devices known to hold it committed, this one included
    of: int  # devices of the venue this node knows of, this one included
    console: bool  # the console holds it

    def describe(self) -> str:
        console = "console has it" if self.console else "console pending"
        return f"{self.receipt} on {self.devices} of {self.of} devices, {console}"


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
    pending_by_document: dict[str, int]  # CRDT clock units per document (for developers)
    # what the console's reports lack, per kind: of this node, of each device, of the whole venue as
    # far as this node knows (the sum over devices, this one included)
    owed: dict[str, int]
    owed_by_device: dict[str, dict[str, int]]
    venue_owed: dict[str, int]
    label: str  # the badge text: "Synced" only when green and nothing is missing
    receipts: int
    uptime_s: float
    refusals: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    upload: dict[str, int] = field(default_factory=dict)  # relay only: {"done": n, "total": m}
    receipt_numbers_known: bool = (
        True  # False: a register with a new database that may not sell yet
    )
    corrupt_records: int = 0  # records this node's reads skip because they do not parse (an alarm)
    latest_sale: Durability | None = None  # this register's latest receipt since it started
    # closed business days: how many, how many are open on peers' behalf (within the reopen budget,
    # Documents), and the bytes parked for them until they open
    closed_days: dict[str, int] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # node id -> why it has no console link
    not_in_reports: int = 0  # records the console holds but cannot put in its reports
    not_in_reports_reason: str = ""
    # where stock Yjs clients with a token (browsers) connect: a port of their own that asks for no
    # client certificate (docs/api.md, Stock Yjs clients); 0: the node has no yjs_tokens
    yjs_port: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeStatus:
        """A status read back from a node's ``/status`` (``meshpos status``); fields a newer node
        sends and this version does not know are left out."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("latest_sale"), dict):
            values["latest_sale"] = Durability(**values["latest_sale"])
        return cls(**values)

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
        if self.latest_sale is not None:
            lines.append(f"  latest sale: {self.latest_sale.describe()}")
        if self.upload.get("total") and self.upload["done"] < self.upload["total"]:
            lines.append(f"  uploading {self.upload['done']:,} / {self.upload['total']:,}")
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
    owed_by_device: dict[str, dict[str, int]] | None = None,
    latest_sale: Durability | None = None,
    refusals: dict[str, int] | None = None,
    counters: dict[str, int] | None = None,
    upload: dict[str, int] | None = None,
    corrupt_records: int = 0,
    presence: dict[str, Heartbeat] | None = None,
    pending_by_document: dict[str, int] | None = None,
) -> NodeStatus:
    """``presence``: ``sync.presence`` when the caller has it already (it is built on every read);
    ``pending_by_document``: ``sync.pending`` of every open document, when the caller has it."""
    presence = sync.presence if presence is None else presence
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
    if pending_by_document is None:
        pending_by_document = {name: sync.pending(name) for name in sync.docs}
    by_doc = {name: pending_by_document[name] for name in sorted(pending_by_document)}
    by_doc = {name: n for name, n in by_doc.items() if n}
    by_device = {d: dict(gap) for d, gap in (owed_by_device or {}).items() if gap}
    own = by_device.get(node_id, {})
    venue: dict[str, int] = {}
    for gap in by_device.values():
        add(venue, gap)
    # a document with changes but no missing record in it: open orders, kitchen, stop list
    other_docs = len(by_doc) if not venue else 0
    pending = sum(venue.values()) + other_docs
    parts = []
    if own:
        parts.append(_owed_words(tuple(own.items()), True, role, colour))
    for device in sorted(d for d in by_device if d != node_id):
        parts.append(_owed_words(tuple(by_device[device].items()), False, device, colour))
    if other_docs:
        parts.append(f"{OTHER_CHANGES} {_missing_at_console(False, colour)}")
    problems = {n: hb.problem for n, hb in presence.items() if hb.problem and n != node_id}
    if sync.problem:
        problems[node_id] = sync.problem
    if colour != "green" and problems:
        parts.append("; ".join(problems[n] for n in sorted(problems)))
    unreported, unreported_reason = sync.console_report
    if unreported:
        records = "1 record is" if unreported == 1 else f"{unreported:,} records are"
        parts.append(f"{records} not in the console's reports: {unreported_reason}")
    message = "; ".join(parts) if parts else ALL_SYNCED
    message = message[0].upper() + message[1:]
    if pending:
        label = f"{pending:,} not at the console"
    else:
        label = LABELS[colour] if not unreported else NOT_IN_REPORTS
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
        owed=own,
        venue_owed=venue,
        owed_by_device=by_device,
        label=label,
        receipts=receipts,
        uptime_s=round(uptime_s, 3),
        refusals=dict(refusals or {}),
        counters=dict(counters or {}),
        upload=dict(upload or {}),
        corrupt_records=corrupt_records,
        latest_sale=latest_sale,
        closed_days={
            "closed": len(sync.closed_docs),
            "opened_for_peers": len(sync.opened_for_peers),
            "parked_bytes": sync.parked_total,
        },
        problems=dict(sorted(problems.items())),
        not_in_reports=unreported,
        not_in_reports_reason=unreported_reason,
    )


@lru_cache(maxsize=4096)
def _owed_words(counts: tuple[tuple[str, int], ...], own: bool, name: str, colour: str) -> str:
    """What the message says of one device's owed counts: "2 receipts of R2 are not at the console
    yet"; ``name``: the device, or this node's role when ``own``. **Changed** (issue 18, status):
    remembered per counts, device and colour: a status says it of every device that owes
    something, and after a receipt arrived only one device's counts moved (each was described and
    worded again)."""
    if own:
        whose = f"of this {name}"
    else:
        whose = "of an unknown register" if name == UNKNOWN_REGISTER else f"of {name}"
    one = sum(n for _, n in counts) == 1
    return f"{describe(dict(counts))} {whose} {_missing_at_console(one, colour)}"


def _missing_at_console(one: bool, colour: str) -> str:
    if colour == "green":
        return "is on its way to the console" if one else "are on their way to the console"
    return "is not at the console yet" if one else "are not at the console yet"


def indicator(status: NodeStatus) -> dict[str, Any]:
    """What a page's sync indicator shows of the status. The node publishes a status change on its
    change stream when this moves (so pages learn it pushed, not by asking); counters, refusals and the
    uptime move all the time (and refusals at an attacker's pace), so they are not in it."""
    return {
        "colour": status.colour,
        "pending": status.pending,
        "message": status.message,
        "label": status.label,  # the badge: the page shows it as the node words it
        "peers": status.peers,
        "relay": status.relay,
        "is_relay": status.is_relay,
        "node": status.node,
        "role": status.role,
        "latest_sale": status.latest_sale,
    }
