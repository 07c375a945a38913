"""What this node tells the venue beyond its links, and what it reads of it: its own far record, the
records each heartbeat passes on, and the presence the election, the status and the relay's summary
to the console see.

docs/architecture.md (Links), docs/architecture.md (Relay and console). Split from ``_spread`` (which
keeps the links wanted, the far records taken in and the gone notices) when both parts' growth put it
over the structure test's 500 lines (nineteenth session); behaviour unchanged. A mixin of
:class:`~meshpos.sync._synchronizer.Synchronizer` through ``_spread.Spread``, which owns the state
named below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from meshpos.lib0 import MAX_VAR_UINT
from meshpos.sync._config import SyncConfig
from meshpos.sync._far_signing import FarSigning
from meshpos.sync._messages import FarRecord, Heartbeat, Hello, PeerSummary
from meshpos.sync._presence import FarTable, PresenceTable

#: far records in one heartbeat: own, candidates, news, then a rotating window (bounded whatever N)
FAR_PER_BEAT = 8
CANDIDATES_PER_BEAT = 3


class FarOut(FarSigning):
    """This node's far record, the records its beats carry, and the presence it reads."""

    config: SyncConfig
    hello: Hello
    priority: int
    _presence: PresenceTable
    _far: FarTable
    _started_at: float | None
    _seq: int
    wall_offset: Callable[[], float] | None  # (``_deadlines``: the engine's wall clock - tick's)
    _far_base_ms: int | None = None  # this run's far seq base, taken once (``_far_seq``)
    _uplink: bool
    _relay_claim: bool
    _problem: str
    _rotation: int
    _trigger: bool
    _news: dict[str, int | None]  # node -> the beat seq its news first went out in (None: not yet)

    if TYPE_CHECKING:

        @property
        def node_id(self) -> str: ...

    def _far_seq(self) -> int:
        """This run's record seq: above any earlier run's (ms at start + beats). **Changed** (issue
        18, outside): the start is read on the wall clock where the engine gave one (``wall_offset``),
        once: the tick clock is the event loop's, which starts again at zero when a device boots, so a
        rebooted node's records, and the said fields it signs with their seq (which far nodes keep
        past a record's timeout, ``_far_signing``), looked older than its last run's for as long as
        that run had been up. In-memory beds (no wall clock): their tick clock, as before."""
        base = self._far_base_ms
        if base is None:
            start = self._started_at if self._started_at is not None else 0.0
            offset = self.wall_offset
            base = max(0, int((start + (offset() if offset is not None else 0.0)) * 1000))
            if self._started_at is not None:
                self._far_base_ms = base
        return base + self._seq

    def _own_record(self, pending: int) -> FarRecord:
        record = FarRecord(
            node=self.node_id,
            role=self.hello.role,
            priority=self.priority,
            uplink=self._uplink,
            relay=self._relay_claim,
            seq=self._far_seq(),
            pending=pending,
            problem=self._problem,
            client=self.hello.client_id,
        )
        self._sign_said(record)  # (when its said fields changed: ``_far_signing``)
        return record

    def _far_out(self, now: float, pending: int) -> tuple[FarRecord, ...]:
        """The records this beat carries: own, best candidates, news, then the rotating window."""
        records = self._far.records
        out: dict[str, FarRecord] = {self.node_id: self._own_record(pending)}
        candidates = sorted(
            (r for r in records.values() if r.uplink),
            key=lambda r: (not r.relay, r.priority, r.node),
        )
        for r in candidates[:CANDIDATES_PER_BEAT]:
            out.setdefault(r.node, r)
        self._news_out(records, out)
        for r in self._far.news(now, 2 * self.config.heartbeat_interval):
            if len(out) >= FAR_PER_BEAT:
                break
            out.setdefault(r.node, r)
        rest = [r for n, r in records.items() if n not in out]
        room = FAR_PER_BEAT - len(out)
        if rest and room > 0:
            start = self._rotation % len(rest)
            window = (rest[start:] + rest[:start])[:room]
            self._rotation = start + len(window)
            for r in window:
                out[r.node] = r
        return tuple(out.values())

    def _news_out(self, records: dict[str, FarRecord], out: dict[str, FarRecord]) -> None:
        """Add the queued news to ``out`` (room permitting), oldest first. Each news record goes out
        in two beats (the first one built may be a hello's, for one link only), then leaves the
        queue; while news waits, the next beat comes at once (``_should_trigger``): a record new
        here crosses a hop in a message delay, not a heartbeat period, and never waits for the
        rotation (200 records: ~50 beats a hop)."""
        for node in list(self._news):
            if len(out) >= FAR_PER_BEAT:
                break
            record = records.get(node)
            if record is None:  # gone since
                del self._news[node]
                continue
            out.setdefault(node, record)
            first = self._news[node]
            if first is None:
                self._news[node] = self._seq
            elif self._seq > first:
                del self._news[node]
        if self._news:
            self._trigger = True

    @property
    def presence(self) -> dict[str, Heartbeat]:
        """Every node known alive: its own last heartbeat when linked, else one made from its far
        record (role, priority, uplink, relay claim, problem; its pending count in ``_mesh_summary``).

        **Changed** (issue 18, rounds2): a linked node's far record is not made into a heartbeat
        only to be replaced by its own (in a small full mesh, every far record is of a linked node)."""
        live = self._presence.beats()
        view = self._far.beats(live)
        view.pop(self.node_id, None)
        view.update(live)
        return dict(sorted(view.items()))

    @property
    def linked_presence(self) -> dict[str, Heartbeat]:
        """The nodes heard on a link: their own last heartbeats (unsorted), the part of ``presence``
        that carries what a far record does not (``owed``)."""
        return self._presence.beats()

    def _mesh_summary(self, peers: tuple[str, ...]) -> dict[str, PeerSummary]:
        """Each node's role and pending count for the console (the relay's beat to it, whose
        ``peers`` are ``peers``): a linked node's from its own heartbeat, a far one's as its record
        told (any hop's word: the console shows it as told, ``console/devices.py``). **Changed**
        (nineteenth session, signed): a node in ``peers`` whose heartbeat has not come yet is left out (the
        console takes a count of a node in ``peers`` as its own heartbeat's); a node a notice marked
        is counted in "n" till its record times out, not shown live."""
        linked, records = self._presence.beats(), self._far.records  # (each made once a beat)
        out = {}
        for node, hb in self.presence.items():
            if hb.role == "console" or node == self.node_id or self._far.marked(node):
                continue
            beat = linked.get(node)
            if beat is not None:
                pending = sum(beat.pending.values())
            elif node in peers:
                continue
            else:
                record = records.get(node)
                pending = record.pending if record is not None else 0
            out[node] = PeerSummary(hb.role, min(pending, MAX_VAR_UINT))
        return out
