"""Prometheus metrics of a node and of the console (``GET /metrics``), made with prometheus-client.

docs/architecture.md (Operations). A venue's IT person or a chain's operations team scrapes every register's
local API and the console, and alerts on two questions (docs/alerts.yml): is a register yellow (its sales do
not reach the console) for more than N minutes, and has a venue that sells stopped uploading. So a node says
what its status says (:class:`meshpos.node_status.NodeStatus`: colour, pending by kind and device, peers,
relay, refusals by reason, upload progress) plus its commits and their latency; the console says, per venue,
when it last heard the venue, the time of its latest uploaded record, what its devices say is pending, its
alarms and what is not in its reports.

Everything is read when scraped (the status is computed then), so nothing is counted twice; only the commit
latency is measured as it happens (:class:`TimedDocuments` around the node's store). Metric names carry no
node label: Prometheus labels each target (``instance``); ``meshpos_node_info`` carries the node id, role
and venue for joins. A venue is a label at the console: a chain has hundreds, not millions.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from meshpos import __version__
from meshpos.engine.stores import StoreDocuments
from meshpos.node_status import LABELS, NodeStatus
from meshpos.store import Store

#: the classic text format every Prometheus reads (prometheus-client's default names a newer one)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
COLOURS = tuple(LABELS)  # green, yellow, gray: one series each, 1 for the node's colour now
# a commit is fsync-bound: about 0.5 ms median here, tens of ms on a slow SD card, seconds when stuck
COMMIT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _Families(Collector):
    """Families computed for one scrape."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def render(families: Iterable[Metric], *collectors: Collector) -> bytes:
    """The text exposition of ``families`` and ``collectors``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)


def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def labelled(
    kind: type[GaugeMetricFamily] | type[CounterMetricFamily],
    name: str,
    doc: str,
    labels: Sequence[str],
    rows: Iterable[tuple[Sequence[str], float]],
) -> GaugeMetricFamily | CounterMetricFamily:
    family = kind(name, doc, labels=list(labels))
    for values, value in rows:
        family.add_metric(list(values), value)
    return family


class NodeMetrics:
    """One node's metrics: its commit latency, measured as commits happen, and its status, read at
    each scrape."""

    def __init__(self) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self.commit_seconds = Histogram(
            "meshpos_commit_seconds",
            "Time to commit a batch of changes durably to the node's SQLite file",
            buckets=COMMIT_BUCKETS,
            registry=self._registry,
        )
        self.commit_failures = Counter(
            "meshpos_commit_failures",
            "Commits the store refused (a full disk, a broken file); nothing was acknowledged",
            registry=self._registry,
        )

    def render(self, status: NodeStatus, venue: str) -> bytes:
        return render(node_families(status, venue), self._registry)


def node_families(status: NodeStatus, venue: str) -> list[Metric]:
    """The metric families of a node's status."""
    s = status
    info = GaugeMetricFamily(
        "meshpos_node_info", "This node: id, role, venue, version", labels=["node", "role", "venue"]
    )
    info.add_metric([s.node, s.role, venue], 1)
    version = GaugeMetricFamily("meshpos_build_info", "The meshpos version", labels=["version"])
    version.add_metric([__version__], 1)
    counters = {k: v for k, v in s.counters.items() if k != "commits"}
    relay = GaugeMetricFamily(
        "meshpos_relay_info", "The venue's relay as this node knows it", labels=["relay"]
    )
    if s.relay:
        relay.add_metric([s.relay], 1)
    return [
        info,
        version,
        labelled(
            GaugeMetricFamily,
            "meshpos_colour",
            "1 for the node's colour now: green (data reaches the console), yellow (peers but no "
            "console), gray (on its own)",
            ["colour"],
            (([c], float(c == s.colour)) for c in COLOURS),
        ),
        gauge(
            "meshpos_pending",
            "Changes not at the console yet (the register's count; 0 exactly when all is synced)",
            s.pending,
        ),
        labelled(
            GaugeMetricFamily,
            "meshpos_not_at_console",
            "Records of each device, by kind, that the console's reports do not hold yet",
            ["device", "kind"],
            (
                ([device, kind], n)
                for device, gap in sorted(s.owed_by_device.items())
                for kind, n in sorted(gap.items())
            ),
        ),
        gauge("meshpos_peers", "Peers linked now", len(s.peers)),
        labelled(
            GaugeMetricFamily,
            "meshpos_peer_synced",
            "1 once the first sync with the peer is done",
            ["peer"],
            (([peer], float(done)) for peer, done in sorted(s.peers.items())),
        ),
        relay,
        gauge("meshpos_is_relay", "1 while this node is the venue's relay", float(s.is_relay)),
        gauge("meshpos_console_link", "1 while this node has a console link", float(s.uplink)),
        gauge(
            "meshpos_upload_done",
            "Changes the relay uploaded of this upload",
            s.upload.get("done", 0),
        ),
        gauge("meshpos_upload_total", "Changes the relay has to upload", s.upload.get("total", 0)),
        labelled(
            CounterMetricFamily,
            "meshpos_refusals",
            "Connections and messages refused, by reason",
            ["reason"],
            (([reason], n) for reason, n in sorted(s.refusals.items())),
        ),
        CounterMetricFamily(
            "meshpos_commits", "Durable commits of changes", value=s.counters.get("commits", 0)
        ),
        labelled(
            CounterMetricFamily,
            "meshpos_events",
            "The node's other counters (link timeouts, protocol errors, days closed, ...)",
            ["event"],
            (([event], n) for event, n in sorted(counters.items())),
        ),
        gauge("meshpos_receipts", "Receipts of the loaded business days on this node", s.receipts),
        gauge(
            "meshpos_corrupt_records", "Records skipped as unreadable (an alarm)", s.corrupt_records
        ),
        gauge(
            "meshpos_not_in_reports",
            "Records the console holds but cannot put in its reports",
            s.not_in_reports,
        ),
        gauge(
            "meshpos_closed_days",
            "Business days closed (out of memory)",
            s.closed_days.get("closed", 0),
        ),
        gauge("meshpos_uptime_seconds", "Seconds since the node started", s.uptime_s),
    ]


class TimedDocuments(StoreDocuments):
    """The node's documents in its store, each commit timed into :attr:`NodeMetrics.commit_seconds`."""

    def __init__(self, store: Store, metrics: NodeMetrics) -> None:
        super().__init__(store)
        self._metrics = metrics

    async def append(
        self,
        updates: Sequence[tuple[str, bytes]],
        meta: Mapping[str, str] | None,
        *,
        fsync: bool = True,
    ) -> None:
        started = time.perf_counter()
        try:
            await super().append(updates, meta, fsync=fsync)
        except BaseException:
            self._metrics.commit_failures.inc()
            raise
        self._metrics.commit_seconds.observe(time.perf_counter() - started)


# --- the console --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VenueFigures:
    """What the console knows of one venue at a scrape."""

    venue: str
    relay_connected: bool
    devices_known: int
    devices_reachable: int
    last_seen: float | None  # unix time the console last heard one of its devices
    last_record: float | None  # unix time of the newest record its registers uploaded
    receipts: int  # receipts in its reports
    pending: (
        int | None
    )  # what its reachable devices say is not at the console; None: none reachable
    alarms: int
    not_in_reports: int
    #: reachable devices beyond the relays' links: their pending count is a far record's, told by
    #: other devices and signed by none, so not in ``pending`` (console/devices.py)
    pending_unknown: int = 0
    #: the sum of those devices' told counts (None: none told one): not anyone's vouched word, so never
    #: read as synced; an alert takes it (a false alarm costs a look, a missed one costs a day's sales)
    pending_told: int | None = None
    #: when the console's signing key of the venue ends (unix time; None: it has none): strict
    #: registers take only what it signs, so an alert warns ahead (docs/alerts.yml)
    signing_ends: float | None = None


@dataclass(frozen=True, slots=True)
class ConsoleFigures:
    venues: list[VenueFigures]
    loaded: int
    refusals: Mapping[str, int] = field(default_factory=dict)
    counters: Mapping[str, int] = field(default_factory=dict)


def console_families(figures: ConsoleFigures) -> list[Metric]:
    """The metric families of a console process."""
    v = figures.venues
    version = GaugeMetricFamily("meshpos_build_info", "The meshpos version", labels=["version"])
    version.add_metric([__version__], 1)

    def per_venue(name: str, doc: str, rows: Iterable[tuple[str, float | None]]) -> Metric:
        return labelled(
            GaugeMetricFamily,
            name,
            doc,
            ["venue"],
            (([venue], x) for venue, x in rows if x is not None),
        )

    return [
        version,
        gauge("meshpos_console_venues", "Venues at this console", len(v)),
        gauge(
            "meshpos_console_venues_loaded",
            "Venues whose documents this process holds",
            figures.loaded,
        ),
        labelled(
            CounterMetricFamily,
            "meshpos_console_refusals",
            "Relay connections refused, by reason",
            ["reason"],
            (([reason], n) for reason, n in sorted(figures.refusals.items())),
        ),
        labelled(
            CounterMetricFamily,
            "meshpos_console_events",
            "The console process's counters",
            ["event"],
            (([event], n) for event, n in sorted(figures.counters.items())),
        ),
        per_venue(
            "meshpos_venue_relay_connected",
            "1 while a relay of the venue is linked to the console",
            ((f.venue, float(f.relay_connected)) for f in v),
        ),
        per_venue(
            "meshpos_venue_last_seen_timestamp_seconds",
            "When the console last heard a device of the venue (unix time; absent: never since start)",
            ((f.venue, f.last_seen) for f in v),
        ),
        per_venue(
            "meshpos_venue_last_record_timestamp_seconds",
            "When the newest record the venue uploaded was made (unix time)",
            ((f.venue, f.last_record) for f in v),
        ),
        per_venue(
            "meshpos_venue_pending",
            "Changes the venue's devices linked to a relay say are not at the console (absent: none)",
            ((f.venue, f.pending) for f in v),
        ),
        per_venue(
            "meshpos_venue_signing_key_ends_timestamp_seconds",
            "When the console's signing key of the venue ends (unix time; absent: it has none)",
            ((f.venue, f.signing_ends) for f in v),
        ),
        per_venue(
            "meshpos_venue_receipts",
            "Receipts of the venue in the console's reports",
            ((f.venue, f.receipts) for f in v),
        ),
        per_venue(
            "meshpos_venue_devices",
            "Devices of the venue the console knows of",
            ((f.venue, f.devices_known) for f in v),
        ),
        per_venue(
            "meshpos_venue_devices_reachable",
            "Devices of the venue reachable through its relay now",
            ((f.venue, f.devices_reachable) for f in v),
        ),
        per_venue(
            "meshpos_venue_devices_pending_unknown",
            "Reachable devices beyond the relays' links: their pending count is no one's vouched word",
            ((f.venue, f.pending_unknown) for f in v),
        ),
        per_venue(
            "meshpos_venue_pending_told",
            "Changes devices beyond the relays' links were told to have pending (no device's vouched "
            "word; absent: none told)",
            ((f.venue, f.pending_told) for f in v),
        ),
        per_venue(
            "meshpos_venue_alarms",
            "Alarms of the venue: records refused, conflicts",
            ((f.venue, f.alarms) for f in v),
        ),
        per_venue(
            "meshpos_venue_not_in_reports",
            "Records of the venue the console holds but cannot put in its reports",
            ((f.venue, f.not_in_reports) for f in v),
        ),
    ]
