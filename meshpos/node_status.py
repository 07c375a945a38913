"""What a register shows about its sync: colour, pending count and the one-line message.

See docs/architecture.md (Status).

* green — data flows to the console: this node is the relay with an authenticated link the console takes
  its data on, or a live peer is the relay and says so (a relay whose token is refused, or whose uploads
  stop being acknowledged, gives the role up within a few seconds and says why: it is never green); on a
  node that takes the console's word only as it signed it (strict), also only while the console's
  signed word says it hears the venue now and takes this node's data (``meshpos.sync._fresh``);
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

**Changed** (issue 18, newconsole): a closed business day of this register that the console's signed
word says it lacks (``sync/_lacking.py``: a console on a new or restored database) counts in
``pending`` and is named in the message until it is opened again (it then counts as any open day).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any

from meshpos.model.documents import day_of
from meshpos.model.tally import UNKNOWN_REGISTER, describe
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
    # this device's clock against the console's (ops/clock.py): the console's minus ours at the last
    # probe that read it (None: never compared), and what is wrong with it (empty: nothing known):
    # against the console's when compared, else against most linked peers' (``peer_clocks``: each
    # linked peer's clock minus ours, read when its link opened)
    clock_skew_s: float | None = None
    clock: str = ""
    peer_clocks: dict[str, float] = field(default_factory=dict)
    # this register's shift left open past its business day (``model.shift_report.shift_overdue``):
    # "shift open since <date>: close it"; empty when none is
    shift: str = ""
    # this device's certificate (or the venue CA's) ends within 30 days (``ops/clock.certificate_ending``):
    # "this device's certificate ends on <date>, in N days: ... enroll here before then"; empty otherwise
    certificate: str = ""

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
        if self.clock:
            lines.append(f"  CLOCK: {self.clock}")
        if self.shift:
            lines.append(f"  SHIFT: {self.shift}")
        if self.certificate:
            lines.append(f"  CERTIFICATE: {self.certificate}")
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
    owed_view: OwedView | None = None,
) -> NodeStatus:
    """``presence``: ``sync.presence`` when the caller has it already (it is built on every read);
    ``pending_by_document``: ``sync.pending`` of every open document, when the caller has it;
    ``owed_view``: the caller's, kept between its statuses (``OwedView``)."""
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
    # a strict node believes no claim: only the console's signed word that it hears the venue now
    # (``sync._fresh``; issue 18, fresh: "" while it has it, and on a node that is not strict)
    unheard = sync.console_heard.problem
    relay_up = relay_up and not unheard
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
    view = OwedView() if owed_view is None else owed_view
    view.update(owed_by_device or {}, node_id, role, colour)
    by_device, own, venue = view.by_device, view.own, view.venue
    # a document with changes but no missing record in it: open orders, kitchen, stop list
    other_docs = len(by_doc) if not venue else 0
    # (issue 18, newconsole) closed days the console's signed word says it lacks (``sync._lacking``)
    lacking = sorted({day_of(n) for n in sync.lacking_days.lacking})
    pending = sum(venue.values()) + other_docs + len(lacking)
    parts = list(view.words)
    if other_docs:
        parts.append(f"{OTHER_CHANGES} {_missing_at_console(False, colour)}")
    if lacking:
        days = (
            f"closed business day {lacking[0]}"
            if len(lacking) == 1
            else (
                f"{len(lacking)} closed business days ({', '.join(lacking[:3])}"
                f"{', ...' if len(lacking) > 3 else ''})"
            )
        )
        parts.append(f"{days} {_missing_at_console(len(lacking) == 1, 'yellow')}")
    problems = {n: hb.problem for n, hb in presence.items() if hb.problem and n != node_id}
    if sync.problem or unheard:
        problems[node_id] = "; ".join(p for p in (sync.problem, unheard) if p)
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


class OwedView:
    """What a status shows of the owed counts (``owed_by_device``): per device a copy of its counts
    and its words, this node's, and the venue's sum, kept between statuses.

    **Changed** (issue 18, held): each status copied every device's counts, summed the venue's and
    keyed every device's words again: work that grew with the venue for each status. Now a device's
    copy and words are made again only when its counts moved (``OwedCounts`` keeps a device's counts
    the same object while its inputs did not move, and a new object when they did), or the colour
    (the words say "on their way" when green), and the venue's sum moves by the devices that moved.
    Nothing moved (the same ``owed_by_device``, colour, node and role): nothing is done. The dicts
    handed out are shared by the statuses until they move: read them, never change them."""

    def __init__(self) -> None:
        self._of: tuple[object, str, str, str] | None = None  # (owed_by_device, node, role, colour)
        # device -> (its counts as given, the copy shown, its words)
        self._devices: dict[str, tuple[dict[str, int], dict[str, int], str]] = {}
        self._kinds: dict[str, int] = {}  # kind -> how many devices' counts name it
        self.by_device: dict[str, dict[str, int]] = {}
        self.own: dict[str, int] = {}
        self.venue: dict[str, int] = {}
        self.words: tuple[str, ...] = ()
        self.made = 0  # devices whose copy and words were made (a test counts them)

    def update(self, owed: dict[str, dict[str, int]], node_id: str, role: str, colour: str) -> None:
        of = (owed, node_id, role, colour)
        last = self._of
        if last is not None and last[0] is owed and last[1:] == of[1:]:
            return
        if last is None or last[1:] != of[1:]:
            self._devices, self._kinds, self.venue = {}, {}, {}  # (all words move)
        self._of = of
        kept, devices = self._devices, {}
        venue = self.venue = dict(self.venue)  # (the last status's stays as it was)
        for device, gap in owed.items():
            if not gap:
                continue
            prior = kept.pop(device, None)
            if prior is not None and prior[0] is gap:
                devices[device] = prior
                continue
            if prior is not None:
                self._count(venue, prior[1], -1)
            copy = dict(gap)
            self._count(venue, copy, 1)
            own = device == node_id
            words = _owed_words(tuple(copy.items()), own, role if own else device, colour)
            devices[device] = (gap, copy, words)
            self.made += 1
        for _, copy, _ in kept.values():  # devices that owe nothing now
            self._count(venue, copy, -1)
        self._devices = devices
        self.by_device = {device: shown[1] for device, shown in devices.items()}
        mine = devices.get(node_id)
        self.own = mine[1] if mine is not None else {}
        others = sorted(d for d in devices if d != node_id)
        self.words = (*(() if mine is None else (mine[2],)), *(devices[d][2] for d in others))

    def _count(self, venue: dict[str, int], counts: dict[str, int], sign: int) -> None:
        """Add (``sign`` 1) or take away (-1) a device's counts from the venue's sum: a kind is in
        it while some device's counts name it, as a sum over them would have it."""
        kinds = self._kinds
        for kind, n in counts.items():
            named = kinds.get(kind, 0) + sign
            if named:
                kinds[kind] = named
                venue[kind] = venue.get(kind, 0) + sign * n
            else:
                del kinds[kind]
                del venue[kind]


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
        "clock": status.clock,  # what is wrong with this device's clock (ops/clock.py): a banner
        "shift": status.shift,  # this register's shift open past its business day: a banner
        "certificate": status.certificate,  # this device's certificate ends soon: a banner
    }
