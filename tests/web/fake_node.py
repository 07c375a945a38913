"""A fake :class:`meshpos.web.port.NodeAPI` for the web layer's unit tests: a model Venue in memory.

No store, no links, no clock of its own: a write runs the change on the Venue and publishes the documents
whose state moved, as the node does after its commit; the sync status is what the test sets with
:meth:`FakeNode.set_link`, published as a presence change when the indicator moves, as the node's tick
does. tests/web/test_node_api_contract.py holds it and a real in-process node to the same contract.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from meshpos.config import SESSION_IDLE_S
from meshpos.engine.changes import ChangeFeed, Subscription
from meshpos.errors import ClearCacheRefused, MeshposError, WriteFailed
from meshpos.model import Replica, Venue
from meshpos.node_status import NodeStatus, compute_status, indicator
from meshpos.ops.metrics import NodeMetrics
from meshpos.sync import Synchronizer
from meshpos.web.port import BusinessDays
from meshpos.web.reads import VenueReads

from .kit import CATALOG

T = TypeVar("T")


class FakeNode(VenueReads):
    def __init__(
        self,
        node_id: str = "R1",
        role: str = "register",
        venue_id: str = "fake-venue",
        clock: Callable[[], float] = time.time,
    ) -> None:
        replica = Replica()
        replica.apply("catalog", CATALOG)
        self._venue = Venue(replica, device=node_id, role=role)
        self._node_id, self._role, self._venue_id = node_id, role, venue_id
        self._clock = clock
        self._counters: Counter[str] = Counter()
        self.metrics = NodeMetrics()  # no store: no commit is timed
        self._feed = ChangeFeed()
        self._sync = Synchronizer(venue=venue_id, node_id=node_id, role=role, client_id=1)
        self._peers: dict[str, bool] = {}
        self._uplink = False
        self._shown = indicator(self.status())
        self._revoked: dict[str, dict[str, str | int]] = {}
        self.writes = 0  # changes run, failed ones included
        self.waits: list[bool] = []  # each write's ``wait`` (a tap that may leave with the next)

    @property
    def venue(self) -> Venue:
        return self._venue

    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def role(self) -> str:
        return self._role

    @property
    def venue_id(self) -> str:
        return self._venue_id

    @property
    def pin_lockout_s(self) -> float:
        return 30.0

    @property
    def session_idle_s(self) -> float:
        return SESSION_IDLE_S

    @property
    def counters(self) -> Counter[str]:
        return self._counters

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def status(self) -> NodeStatus:
        return compute_status(
            node_id=self._node_id,
            role=self._role,
            sync=self._sync,
            peers=dict(self._peers),
            uplink=self._uplink,
            receipts=self.receipt_count(),
            uptime_s=0.0,
            counters=dict(self._counters),
        )

    def set_link(
        self, *, peers: Mapping[str, bool] | None = None, uplink: bool | None = None
    ) -> None:
        """What the mesh would change: the peers (id -> in sync) and the console link."""
        if peers is not None:
            self._peers = dict(peers)
        if uplink is not None:
            self._uplink = uplink
        shown = indicator(self.status())
        if shown != self._shown:
            self._shown = shown
            self._feed.publish(presence=True)

    def request_keys(self) -> None:
        return None  # the fake keeps no Idempotency-Key answers (tests/web/test_idempotency*.py: a node)

    async def write(self, change: Callable[[Venue, int], T], *, wait: bool = False) -> T:
        replica = self._venue.replica
        before = {name: replica.doc(name).get_state() for name in replica.names()}
        self.writes += 1
        self.waits.append(wait)
        try:
            result = change(self._venue, self.now_ms())
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:
            self._publish(before)  # what the model took back is a change too
            if isinstance(exc, MeshposError):
                raise
            raise WriteFailed(
                f"the change failed ({type(exc).__name__}); nothing was written"
            ) from exc
        self._publish(before)
        return result

    def _publish(self, before: dict[str, bytes]) -> None:
        replica = self._venue.replica
        moved = [n for n in replica.names() if before.get(n) != replica.doc(n).get_state()]
        self._feed.publish(moved, local=True)

    def revocations(self) -> list[dict[str, str | int]]:
        return [self._revoked[d] for d in sorted(self._revoked)]

    def is_revoked(self, device_id: str) -> bool:
        return device_id in self._revoked

    async def revoke(self, entry: Mapping[str, Any]) -> None:
        """Takes any entry (the fake holds no venue authority to check a signature against)."""
        self._revoked[str(entry["device"])] = dict(entry)
        self._feed.publish(["denylist"], local=True)

    async def clear_cache(self) -> list[str]:
        status = self.status()
        if status.colour != "green":
            raise ClearCacheRefused(f"the console cannot be reached (status {status.colour})")
        return ["catalog"]

    def changes(self) -> Subscription:
        return self._feed.subscribe()

    def days(self) -> BusinessDays:
        return self.business_days(set())  # the fake closes no day

    def holding_days(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # (the fake closes no day)

    async def open_day_of(self, key: str) -> bool:
        return False

    async def load_shift_day(self) -> None:
        pass  # (the fake closes no day)

    async def open_day(self, date: str, *, kitchen: bool = False) -> bool:
        return False

    def subscribers(self) -> int:
        """Subscriptions not closed yet (a stream that ends must close its own)."""
        return len(self._feed._subscribers)
