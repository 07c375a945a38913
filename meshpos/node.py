"""Node: one device of the venue — store, documents, sync, links, discovery — and the API register apps use.

``async with Node(config) as node:`` starts everything; every write method returns once its change is
committed to the node's SQLite file (and only then is it forwarded to peers). Received updates are committed
before they are forwarded too: :meth:`Node._pump` drains the synchronizer's events into the store, then its
outgoing data into the links, with no await in between the last commit and the drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from pycrdt import Map

from meshpos.config import Config
from meshpos.engine import ChangeFeed, Subscription
from meshpos.errors import (
    ClearCacheRefused,
    ConfigError,
    MeshposError,
    MissingDatabase,
    PeerTimeout,
    StoreError,
    UnknownRecord,
    WriteFailed,
)
from meshpos.model import (
    CashMove,
    Catalog,
    InventoryMove,
    Order,
    PaymentResult,
    Refund,
    Replica,
    Shift,
    StopEntry,
    Ticket,
    Venue,
)
from meshpos.model.numbering import new_series_tag
from meshpos.model.replica import decode_state_vector
from meshpos.model.tally import (
    RECOUNT_WHEN_QUIET,
    LedgerTally,
    add,
    covers,
    missing_by_register,
)
from meshpos.net.discovery import Discovery, PeerAd
from meshpos.net.links import Links, LinkSettings
from meshpos.net.port import LinkPeer, PeerKind, Send
from meshpos.node_status import Durability, NodeStatus, compute_status, indicator
from meshpos.relay import ConsoleLink, probe_console
from meshpos.store import SqliteStore, Store, load_open_documents
from meshpos.store.lock import lock_path
from meshpos.sync import (
    ClientIdAlarm,
    DocumentChanged,
    LocalWriteRefused,
    PeerClosed,
    PeerJoined,
    PeerLive,
    RelayChanged,
    SyncConfig,
    SyncEvent,
    Synchronizer,
    UpdateRejected,
    new_client_id,
)
from meshpos.trust import (
    DenyList,
    DeviceIdentity,
    client_ssl_context,
    device_hostname,
    load_identity,
    peer_certificate_info,
    server_ssl_context,
    stored_token,
)
from meshpos.web.api import make_handler
from meshpos.web.http import HttpServer
from meshpos.web.reads import VenueReads

log = logging.getLogger("meshpos.node")

T = TypeVar("T")

MAX_MESSAGE_SIZE = 4 * 2**20  # one websocket message; step-2 replies above it are chunked
ALWAYS_OPEN = ("catalog", "stoplist", "denylist")
# Received changes are committed at once when none were in the last interval, else grouped until it
# ends: a busy mesh then pays one fsync per interval for what its peers send, not one per message.
# Nothing waits on them but forwarding (which follows the commit); local writes commit them too.
RECEIVED_COMMIT_INTERVAL = 0.01
CONSOLE_DOCUMENTS = ("catalog",)  # authored at the console only: safe to drop and pull again
# A relay gives up its claim when the console refuses it, or when this many of the console's heartbeats
# arrive without its state vectors advancing while the relay has data for it and nothing on the way:
# green must mean that data flows, not only that a path exists. It then keeps off the role for a
# while (doubling, up to the maximum) so another register can take over, and tries again.
STALL_HEARTBEATS = 5
GIVE_UP_BACKOFF_MIN = 2.0
GIVE_UP_BACKOFF_MAX = 30.0


@dataclass(frozen=True, slots=True)
class Rejection:
    at: float
    node: str
    doc: str
    reason: str


class Node(VenueReads):
    """One device; it is the web layer's :class:`meshpos.web.port.NodeAPI` (reads from VenueReads)."""

    def __init__(
        self,
        config: Config,
        *,
        identity: DeviceIdentity | None = None,
        discovery: bool = True,
        clock: Callable[[], float] = time.time,
        new_receipt_series: bool = False,
    ) -> None:
        """``new_receipt_series``: the operator's override for a register that does not know its last
        receipt number (see :mod:`meshpos.model.numbering`): number from now on in a new tagged series."""
        self.config = config
        self._new_receipt_series = new_receipt_series
        self._identity = identity
        self._use_discovery = discovery
        self._clock = clock
        self._rng = random.Random()
        self.counters: Counter[str] = Counter()
        self.rejections: list[Rejection] = []
        self._store: Store | None = None
        self._replica: Replica | None = None
        self._venue: Venue | None = None
        self._sync: Synchronizer | None = None
        self._links: Links | None = None
        self._discovery: Discovery | None = None
        self._deny: DenyList | None = None
        self._deny_changed = False
        self._pump_lock = asyncio.Lock()
        self._received_commit: asyncio.TimerHandle | None = None
        self._received_committed_at = 0.0
        self._committers: set[asyncio.Task[None]] = set()
        self._uncommitted: list[tuple[str, bytes, bool]] = []
        self._ticker: asyncio.Task[None] | None = None
        self._api: HttpServer | None = None
        self._peers: dict[str, str] = {}  # link key -> node id, past the hello
        self._sends: dict[str, Send] = {}  # link key -> what writes to it (mesh links, the console)
        self._console_key = ""  # the key of the open console link, if any
        self._live: set[str] = set()  # link keys whose initial sync is done
        self._tallies: dict[str, LedgerTally] = {}  # ledger document -> its records per register
        self._changed_at: dict[str, float] = {}  # document -> monotonic time of its last change
        self._recounted: dict[
            str, float
        ] = {}  # document -> the change its tally was recounted after
        # this register's latest receipt: (id, number, document, the exact state that wrote it)
        self._latest_sale: tuple[str, str, str, dict[int, int]] | None = None
        self._started_at = 0.0
        self._closing = False
        # the relay: probing the console, and the link while elected
        self._uplink_ok = False
        self._prober: asyncio.Task[None] | None = None
        self._console: ConsoleLink | None = None
        self._console_task: asyncio.Task[None] | None = None
        self._console_live = False
        self._upload_total = 0
        self._relay_stopper: asyncio.Task[None] | None = None
        # why this node has no working console link although it has a console_url (in its heartbeats)
        self._problem = ""
        self._stall_problem = False  # the problem is a stall: only data seen flowing clears it
        self._backoff = 0.0  # seconds it keeps off the relay role after the next give-up
        self._backoff_until = 0.0  # monotonic: no uplink (and no probe) before then
        self._console_seq = -1  # the console's heartbeats seen on this link, and what they held
        self._console_clocks = -1
        self._stalled_beats = 0
        self._numbers_learned = False  # a fresh register just learned its numbers: commit them
        self._feed = ChangeFeed()  # published after each commit (docs) and presence change
        self._changed_docs: set[str] = set()  # committed by this pump, not yet published
        self._changed_local = False
        self._presence_changed = False
        self._shown: dict[str, Any] | None = None  # the status indicator last published

    # --- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> Node:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        config = self.config
        identity = self._identity or load_identity(config.identity_path)
        if identity.device_id != config.node_id:
            raise ConfigError(
                f"node_id {config.node_id!r} does not match the device certificate in "
                f"{config.identity_path} ({identity.device_id!r})"
            )
        if identity.role != config.role:
            raise ConfigError(
                f"role {config.role!r} does not match the device certificate ({identity.role!r})"
            )
        if config.venue_id and config.venue_id != identity.venue_id:
            raise ConfigError(
                f"venue_id {config.venue_id!r} does not match the device certificate "
                f"({identity.venue_id!r})"
            )
        if self._new_receipt_series and config.role != "register":
            raise ConfigError(
                f"--new-receipt-series: node {config.node_id} is a {config.role}; "
                "only registers number receipts"
            )
        self._identity = identity
        self._deny = DenyList(identity.ca_pem)
        self._deny_changed = False
        try:
            config.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"data_dir {str(config.data_dir)!r}: cannot use it: {exc.strerror}"
            ) from None
        self._store = await self._open_store()
        try:
            # read (or make) the token while holding the data dir: a junk token stops us before we
            # listen anywhere, and two first starts cannot both make one
            self.api_token = stored_token(config.data_dir / "api.token")
            await self._open_documents(identity)
        except BaseException:
            await self._store.close()
            raise
        try:
            await self._start_network(identity)
        except BaseException:
            # what did start (links, ticker, API server) must not outlive the failure
            with contextlib.suppress(Exception):
                await self.stop()
            await self._store.close()
            raise
        self._started_at = time.monotonic()
        log.info(
            "node %s (%s) of venue %s started: mesh port %d",
            config.node_id,
            config.role,
            identity.venue_id,
            self.port,
        )

    async def _open_store(self) -> SqliteStore:
        """Open (and lock) the data dir's database; refuse an empty one where a database existed.

        An empty ``node.db`` in place of a lost one used to start as an empty register saying "All data
        is synced" with none of its sales. A data dir that held a database shows it: ``api.token`` is
        written at every start after the database opened, and ``node.db.lock`` at every open. Then
        only ``meshpos node --init-database`` begins an empty database, and only where there is none.
        """
        config = self.config
        markers = [config.data_dir / "api.token", lock_path(config.db_path)]
        existed = [marker.name for marker in markers if marker.exists()]
        create = config.init_database or not existed
        try:
            store = await SqliteStore.open(config.db_path, start_merge_helper=True, create=create)
        except MissingDatabase as exc:
            raise MissingDatabase(
                f"{exc.message}, but this data dir has held a database ({' and '.join(existed)} "
                f"exist): refusing to start an empty register in its place. Restore "
                f"{config.db_path.name} from a backup, or start once with meshpos node "
                f"--init-database to begin an empty database deliberately"
            ) from None
        if config.init_database and not store.created:
            await store.close()
            raise ConfigError(
                f"--init-database: {config.db_path} already holds a database (left as it was); "
                "start without --init-database"
            )
        return store

    async def _open_documents(self, identity: DeviceIdentity) -> None:
        assert self._store is not None
        client_id = new_client_id(self._rng)  # fresh at every start, never persisted
        replica = Replica(client_id=client_id, capture=False)
        sync = Synchronizer(
            venue=identity.venue_id,
            node_id=self.config.node_id,
            role=self.config.role,
            client_id=client_id,
            priority=self.config.priority,
            config=SyncConfig.paced(self.config.heartbeat_interval, MAX_MESSAGE_SIZE),
            doc_factory=replica.doc,
        )
        for name, update in (await load_open_documents(self._store)).items():
            sync.load(name, update)
        for name in ALWAYS_OPEN:
            sync.open_doc(name)
        sync.events_received()

        def observe(name: str) -> None:
            sync.open_doc(name)  # a new business day is observed from its first change

        replica.on_open = observe
        seq, tag = await self._receipt_numbering()
        assert self._deny is not None
        for entry in json.loads(await self._store.get_meta("denylist") or "[]"):
            self._deny.add(entry)
        self._replica, self._sync = replica, sync
        self._venue = Venue(
            replica,
            device=self.config.node_id,
            role=self.config.role,
            receipt_seq=seq or 0,
            receipt_numbers_known=seq is not None or self.config.role != "register",
            receipt_series=tag,
        )
        if self.config.role == "register":
            self._venue.numbering.publish()  # committed by the first pump, sent to every peer
        if seq is None and self.config.role == "register":
            log.warning(
                "register %s has a new database: it sells once it has been in sync with a peer or "
                "the console (which know its last receipt number), or after meshpos node "
                "--new-receipt-series",
                self.config.node_id,
            )
        self._refresh_denylist()

    async def _receipt_numbering(self) -> tuple[int | None, str]:
        """The last receipt sequence this store recorded (None: a new database, whose numbers are
        unknown) and the series tag; the operator's new series is recorded before anything is sold."""
        store = self._store
        assert store is not None
        if self._new_receipt_series:
            tag = new_series_tag()
            await store.append([], meta={"receipt_seq": "0", "receipt_series": tag})
            log.warning(
                "register %s starts the new receipt number series %s: its next receipt is %s-%s-000001",
                self.config.node_id,
                tag,
                self.config.node_id,
                tag,
            )
            return 0, tag
        seq = await store.get_meta("receipt_seq")
        tag = await store.get_meta("receipt_series") or ""
        if seq is not None and not seq.isdigit():
            raise StoreError(
                f"{self.config.db_path}: meta receipt_seq {seq!r} is not a receipt sequence number"
            )
        return (int(seq) if seq is not None else None), tag

    async def _start_network(self, identity: DeviceIdentity) -> None:
        config = self.config
        self._links = Links(
            LinkSettings(
                node_id=config.node_id,
                venue_id=identity.venue_id,
                host=config.listen_host,
                port=config.port,
                server_context=server_ssl_context(identity),
                client_context=client_ssl_context(identity),
                identify=_identify,
                hostname_for=lambda device: device_hostname(device, identity.venue_id),
                is_revoked=self.is_revoked,
                max_message_size=MAX_MESSAGE_SIZE + 4096,
            ),
            self,
            self._rng,
        )
        port = await self._links.start()
        self._ticker = asyncio.create_task(self._tick_forever())
        if config.console_url and config.role == "register":  # only registers carry the ledger up
            self._prober = asyncio.create_task(self._probe_forever())
        self._api = HttpServer(make_handler(self, self.api_token), config.api_host, config.api_port)
        api_port = await self._api.start()
        url_file = config.data_dir / "api.url"
        try:
            url_file.write_text(f"http://{config.api_host}:{api_port}\n")
        except OSError as exc:
            raise ConfigError(f"{url_file}: cannot write the API address: {exc.strerror}") from None
        if self._use_discovery:
            self._discovery = Discovery(
                venue_id=identity.venue_id,
                node_id=config.node_id,
                role=config.role,
                port=port,
                interfaces=list(config.interfaces),
                address=config.interfaces[0]
                if config.listen_host == "0.0.0.0"
                else config.listen_host,
                on_found=self._on_found,
                on_removed=self._links.peer_removed,
            )
            await self._discovery.start()

    async def stop(self) -> None:
        """Tell peers goodbye, stop the network, commit what is left and close the store."""
        if self._closing or self._store is None:
            return
        self._closing = True
        if self._received_commit is not None:
            self._received_commit.cancel()  # the pumps below commit it all
        if self._discovery is not None:
            with contextlib.suppress(Exception):
                await self._discovery.stop()
        if self._api is not None:
            await self._api.stop()
            with contextlib.suppress(OSError):
                (self.config.data_dir / "api.url").unlink()
        if self._sync is not None:
            for key in list(self._sync.sessions):
                self._sync.close(key, "node shutting down")
            with contextlib.suppress(MeshposError):
                await self._pump()
        await self._stop_relaying()
        for task in (self._ticker, self._prober):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._links is not None:
            await self._links.stop()
        with contextlib.suppress(MeshposError):
            await self._pump()
        await self._store.close()
        self._feed.close()
        log.info("node %s stopped", self.config.node_id)

    # --- the network's view -----------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://{self.config.api_host}:{self._api.port}" if self._api else ""

    @property
    def port(self) -> int:
        return self._links.port if self._links is not None else 0

    def add_peer(self, node_id: str, host: str, port: int) -> None:
        """Link to a peer whose address is known without mDNS (tests, static set-ups)."""
        assert self._links is not None
        self._links.peer_found(node_id, host, port)

    def _on_found(self, ad: PeerAd) -> None:
        assert self._links is not None
        self._links.peer_found(ad.node_id, ad.address, ad.port)

    def link_opened(self, key: str, peer: LinkPeer, send: Send) -> None:
        assert self._sync is not None
        self._sends[key] = send
        self._sync.connect(key, expected_role=peer.role, expected_node=peer.device_id)
        if peer.kind is PeerKind.CONSOLE:
            self._console_key = key
            self._upload_total = self._pending_total()
            self._console_seq, self._console_clocks, self._stalled_beats = -1, -1, 0
            log.info("relay: connected to the console; %d changes to upload", self._upload_total)
        self._flush_links()

    async def link_messages(self, key: str, messages: list[bytes]) -> None:
        sync = self._sync
        assert sync is not None
        if key not in sync.sessions:
            return
        for data in messages:  # a session that closes midway ignores the rest
            sync.receive_data(key, data)
        self._commit_received_soon()

    def _commit_received_soon(self) -> None:
        if self._received_commit is not None or self._closing:
            return  # already due
        loop = asyncio.get_running_loop()
        delay = self._received_committed_at + RECEIVED_COMMIT_INTERVAL - loop.time()
        self._received_commit = loop.call_later(max(0.0, delay), self._commit_received)

    def _commit_received(self) -> None:
        self._received_commit = None
        self._received_committed_at = asyncio.get_running_loop().time()
        if not self._closing:
            task = asyncio.create_task(self._pump_received())
            self._committers.add(task)
            task.add_done_callback(self._committers.discard)

    async def _pump_received(self) -> None:
        try:
            await self._pump()
        except StoreError as exc:  # the ticker retries
            log.error("cannot commit received changes (%s); retrying", exc)

    async def link_closed(self, key: str, reason: str) -> None:
        sync = self._sync
        assert sync is not None
        if key in sync.sessions:
            sync.receive_eof(key)
            with contextlib.suppress(MeshposError):
                await self._pump()
        self._peers.pop(key, None)
        self._live.discard(key)
        self._sends.pop(key, None)
        if key == self._console_key:
            self._console_key = ""
            self._console_live = False

    # --- the relay ----------------------------------------------------------------------------------

    async def _probe_forever(self) -> None:
        """Keep ``uplink`` truthful: it means an authenticated console link that takes this node's
        data. A register that cannot reach the console, whose token the console refuses, or whose
        uploads stall never claims the relay (and gives the role up within a few seconds)."""
        sync = self._sync
        assert sync is not None
        config = self.config
        period = min(config.heartbeat_interval, 0.5)
        loop = asyncio.get_running_loop()
        while True:
            if loop.time() < self._backoff_until:
                ok = False
            elif self._console_live:
                ok = not self._stalled()
                if not ok:
                    self._give_up(
                        f"the console is not taking {config.node_id}'s changes "
                        f"(nothing acknowledged in {STALL_HEARTBEATS} of its heartbeats)",
                        stall=True,
                    )
            else:
                probe = await probe_console(
                    config.console_url,
                    timeout=2.0,
                    ca_file=config.console_ca_file,
                    venue_id=self.venue_id,
                    token=config.console_token,
                )
                ok = probe.ok
                if probe.refused:
                    self._give_up(f"the console refused {config.node_id}: {probe.refused}")
                elif ok and (not self._stall_problem or self._flows_elsewhere()):
                    self._set_problem("")  # the token is taken; a stall is cleared by data flowing
            if ok != self._uplink_ok:
                log.info("console %s", "reachable" if ok else "not reachable")
            self._uplink_ok = ok
            sync.set_uplink(ok)
            await asyncio.sleep(period)

    def link_refused(self, peer: LinkPeer, reason: str) -> None:
        """The console refused this relay's link (a wrong venue token, another venue's): give up.
        A redial refused again before the link is stopped is the same refusal, not a second one."""
        if (
            peer.kind is PeerKind.CONSOLE
            and asyncio.get_running_loop().time() >= self._backoff_until
        ):
            self._give_up(f"the console refused {self.config.node_id}: {reason}")

    def _give_up(self, problem: str, *, stall: bool = False) -> None:
        """No uplink for a while, with the reason in every heartbeat: the claim goes at the next
        election, another register with a working link takes over, every register shows why."""
        assert self._sync is not None
        self._backoff = min(max(GIVE_UP_BACKOFF_MIN, 2 * self._backoff), GIVE_UP_BACKOFF_MAX)
        self._backoff_until = asyncio.get_running_loop().time() + self._backoff
        if self._uplink_ok:
            log.info("console not reachable")
        self._uplink_ok = False
        self._sync.set_uplink(False)
        self._set_problem(problem, stall=stall)
        self.counters["console_give_ups"] += 1
        log.warning("relay: %s; keeping off the relay role for %.0f s", problem, self._backoff)

    def _set_problem(self, problem: str, *, stall: bool = False) -> None:
        assert self._sync is not None
        self._problem = problem
        self._stall_problem = stall
        self._sync.set_problem(problem)

    def _flows_elsewhere(self) -> bool:
        """Another relay carries this node's data to the console: all of it is there."""
        sync = self._sync
        assert sync is not None
        relay = sync.relay
        beat = sync.presence.get(relay) if relay is not None else None
        return (
            beat is not None
            and beat.relay
            and beat.uplink
            and not beat.problem
            and self._pending_total() == 0
        )

    def _stalled(self) -> bool:
        """Has the console sent STALL_HEARTBEATS heartbeats without its state vectors advancing while
        this relay holds data the console lacks? A heartbeat that comes while changes are on their
        way is not counted (nor does it reset the count: anti-entropy re-sends them every round)."""
        sync, console = self._sync, self._console
        assert sync is not None
        beat = sync.presence.get("console")
        if beat is None or beat.seq == self._console_seq:
            return self._stalled_beats >= STALL_HEARTBEATS
        first = self._console_seq < 0
        self._console_seq = beat.seq
        # the console's clocks of the documents we have data for (its own edits to others are no sign)
        waiting = [name for name in sync.docs if sync.pending(name)]
        clocks = sum(sum(beat.console.get(name, {}).values()) for name in waiting)
        if clocks != self._console_clocks or not waiting:
            if not waiting or (not first and clocks > self._console_clocks):
                self._backoff = 0.0  # data flows: a later give-up starts from the shortest wait
                if self._stall_problem:
                    self._set_problem("")  # and the registers may show green again
            self._console_clocks, self._stalled_beats = clocks, 0
        elif console is not None and console.sending:
            pass  # still on its way: this heartbeat proves nothing either way (anti-entropy resends)
        else:
            self._stalled_beats += 1
        return self._stalled_beats >= STALL_HEARTBEATS

    def _manage_relay(self) -> None:
        """Run the console link exactly while this node is the elected relay with a working uplink."""
        sync = self._sync
        assert sync is not None
        wanted = sync.is_relay and self._uplink_ok and not self._closing
        running = self._console_task is not None and not self._console_task.done()
        if wanted and not running:
            assert self._identity is not None
            self._console = ConsoleLink(
                url=self.config.console_url,
                token=self.config.console_token,
                venue_id=self._identity.venue_id,
                handler=self,
                max_size=MAX_MESSAGE_SIZE + 4096,
                rng=self._rng,
                ca_file=self.config.console_ca_file,
            )
            self._console_task = asyncio.create_task(self._console.run())
            log.info("relay: this node is the relay")
        elif running and not wanted:
            self._relay_stopper = asyncio.create_task(self._stop_relaying())

    async def _stop_relaying(self) -> None:
        task, self._console_task = self._console_task, None
        if task is None:
            return
        console = self._console
        if console is not None and console.key and self._sync is not None:
            if console.key in self._sync.sessions:
                self._sync.close(console.key, "no longer the relay")
                self._flush_links()
            await asyncio.sleep(0.05)  # let the goodbye go out
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._console_live = False
        log.info("relay: stopped relaying")

    def _pending_total(self) -> int:
        sync = self._sync
        assert sync is not None
        return sum(sync.pending(name) for name in sync.docs)

    async def _tick_forever(self) -> None:
        sync = self._sync
        assert sync is not None
        period = min(0.1, self.config.heartbeat_interval / 5)
        loop = asyncio.get_running_loop()
        while True:
            sync.set_owed(self._owed().get(self.config.node_id, {}))  # told to every peer
            sync.tick(loop.time())
            try:
                await self._pump()
            except StoreError as exc:
                log.error("cannot commit received changes (%s); retrying", exc)
            self._publish_status()
            if self._prober is not None:
                self._manage_relay()
            await asyncio.sleep(period)

    # --- commit, then forward ---------------------------------------------------------------------

    async def _pump(self) -> None:
        sync, store = self._sync, self._store
        assert sync is not None
        assert store is not None
        async with self._pump_lock:
            while True:
                for event in sync.events_received():
                    self._on_event(event)
                if not self._uncommitted and not self._numbers_learned:
                    break
                batch = list(self._uncommitted)  # a copy: the del below must not empty it
                meta: dict[str, str] = {}
                venue = self._venue
                numbers_due = self._numbers_learned or any(local for _, _, local in batch)
                if numbers_due and venue is not None and venue.numbering.known:
                    # never while unknown: a restart would then take the guess for knowledge
                    meta["receipt_seq"] = str(venue.receipt_seq)
                    meta["receipt_series"] = venue.numbering.tag
                if self._deny_changed and self._deny is not None:
                    meta["denylist"] = json.dumps(self._deny.entries())
                await store.append(  # change events of our documents: encoded by pycrdt itself
                    [(doc, update) for doc, update, _ in batch], meta=meta or None, validated=True
                )
                del self._uncommitted[: len(batch)]
                self._numbers_learned = False  # committed (a failed commit is tried again)
                self._changed_docs.update(doc for doc, _, _ in batch)
                self._changed_local |= any(local for _, _, local in batch)
                if "denylist" in meta:
                    self._deny_changed = False
                self.counters["commits"] += 1
            self._flush_links()
            self._publish()

    def _publish(self) -> None:
        """Tell subscribers what the last commits changed (only ever after they are durable)."""
        docs, self._changed_docs = self._changed_docs, set()
        self._feed.publish(docs, presence=self._presence_changed, local=self._changed_local)
        self._changed_local = self._presence_changed = False

    def _publish_status(self) -> None:
        """The indicator also moves without a document or peer event (a heartbeat timeout turns it
        gray, the relay gives up, the console acknowledges): publish it as a presence change."""
        try:
            shown = indicator(self.status())
        except MeshposError as exc:  # the ticker must go on; the status API shows the same error
            if self._shown != {}:
                log.error("cannot compute the status: %s", exc)  # once, until it works again
            self._shown = {}
            return
        if shown != self._shown:
            self._shown = shown
            self._feed.publish(presence=True)

    def changes(self) -> Subscription:
        """Subscribe to committed changes and presence changes (close the subscription when done)."""
        return self._feed.subscribe()

    def _flush_links(self) -> None:
        sync, links = self._sync, self._links
        if sync is None or links is None or self._uncommitted:
            return
        for key in list(sync.sessions):
            out = sync.data_to_send(key)
            if not out:
                continue
            send = self._sends.get(key)
            if send is not None:
                send(out)
            self.counters["messages_sent"] += len(out)

    def _on_event(self, event: SyncEvent) -> None:
        if isinstance(event, PeerJoined | PeerLive | PeerClosed | RelayChanged):
            self._presence_changed = True
        if isinstance(event, DocumentChanged):
            self._uncommitted.append((event.doc, event.update, event.peer is None))
            self._changed_at[event.doc] = time.monotonic()
            if event.doc == "denylist":
                self._refresh_denylist()
        elif isinstance(event, PeerJoined):
            if event.role != "console":
                self._peers[event.peer] = event.node
        elif isinstance(event, PeerLive):
            if event.peer == self._console_key:
                self._console_live = True
                log.info("relay: in sync with the console")
            else:
                self._live.add(event.peer)
                log.info("in sync with %s", event.node)
            self._learn_receipt_numbers(event.node)
        elif isinstance(event, PeerClosed):
            self._peers.pop(event.peer, None)
            self._live.discard(event.peer)
            if isinstance(event.error, PeerTimeout):
                self.counters["link_timeouts"] += 1
                log.info("link with %s closed: %s", event.node or event.peer, event.reason)
            elif event.error is not None:
                self.counters["protocol_errors"] += 1
                log.warning("link with %s closed: %s", event.node or event.peer, event.reason)
        elif isinstance(event, UpdateRejected):
            self.counters["rejected_updates"] += 1
            self.rejections.append(Rejection(self._clock(), event.node, event.doc, event.reason))
            del self.rejections[:-100]
        elif isinstance(event, ClientIdAlarm):
            self.counters["client_id_alarms"] += 1
            log.error("client id alarm from %s: %s (%s)", event.node, event.client_id, event.detail)
        elif isinstance(event, LocalWriteRefused):
            self.counters["local_writes_refused"] += 1
        elif isinstance(event, RelayChanged):
            log.info("relay is now %s", event.relay or "nobody")

    def _learn_receipt_numbers(self, source: str) -> None:
        """A fresh register in sync with ``source`` holds what the mesh knows of its numbers."""
        venue = self._venue
        if venue is None or venue.numbering.known:
            return
        venue.numbering.learned(venue.ledgers())
        self._numbers_learned = True
        log.info(
            "register %s learned its receipt numbers from %s: next is %s-%06d",
            self.config.node_id,
            source,
            venue.numbering.series,
            venue.receipt_seq + 1,
        )

    # --- revocation -------------------------------------------------------------------------------

    def _refresh_denylist(self) -> None:
        """Learn CA-signed revocations from the ``denylist`` document, and put back any verified entry
        the document lost: deletions carry no author in Yjs, so a peer could erase one; every node that
        knows it writes it again, and keeps its own copy in the store (``meta``)."""
        if self._replica is None or self._deny is None:
            return
        revoked = self._replica.doc("denylist").get("revoked", type=Map)
        for device, raw in revoked.items():
            if self._deny.is_revoked(device):
                continue
            try:
                entry = json.loads(raw) if isinstance(raw, str) else None
            except ValueError:
                entry = None
            if isinstance(entry, dict) and self._deny.add(entry):
                log.warning("device %s is revoked", device)
                self._deny_changed = True
                if self._links is not None:
                    self._links.drop(device, "revoked")
            else:
                log.warning("ignoring an invalid revocation entry for %r", device)
        for entry in self._deny.entries():
            text = json.dumps(entry, sort_keys=True)
            if revoked.get(str(entry["device"])) != text:
                revoked[str(entry["device"])] = text  # repaired; the change is committed and sent

    def is_revoked(self, device_id: str) -> bool:
        return self._deny is not None and self._deny.is_revoked(device_id)

    async def revoke(self, entry: Mapping[str, Any]) -> None:
        """Add a revocation signed by the venue CA (``meshpos revoke``) to the mesh's deny-list."""
        assert self._deny is not None
        if not DenyList(self._require_identity().ca_pem).add(dict(entry)):
            raise MeshposError("revocation refused: not signed by this venue's authority")
        device = str(entry["device"])

        def write() -> None:
            revoked = self.replica.doc("denylist").get("revoked", type=Map)
            revoked[device] = json.dumps(dict(entry), sort_keys=True)

        await self._write(write)

    def _require_identity(self) -> DeviceIdentity:
        if self._identity is None:
            raise MeshposError("the node is not started")
        return self._identity

    @property
    def venue_id(self) -> str:
        """The venue of this node's certificate."""
        return self._require_identity().venue_id

    def revocations(self) -> list[dict[str, str | int]]:
        """The CA-signed deny-list entries this node enforces, by device id."""
        return self._deny.entries() if self._deny is not None else []

    # --- the API for register apps: every call returns once its change is durable ----------------

    @property
    def node_id(self) -> str:
        return self.config.node_id

    @property
    def role(self) -> str:
        return self.config.role

    @property
    def pin_lockout_s(self) -> float:
        return self.config.pin_lockout_s

    @property
    def venue(self) -> Venue:
        if self._venue is None:
            raise MeshposError("the node is not started")
        return self._venue

    @property
    def replica(self) -> Replica:
        if self._replica is None:
            raise MeshposError("the node is not started")
        return self._replica

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def _write(self, change: Callable[[], T]) -> T:
        """Apply one change and return once it is durable. A change that raises was taken back by the
        model (its insert and the deletion are committed and sent alike); anything but a MeshposError
        (a pycrdt panic is a BaseException) is reported as WriteFailed, never as a crash."""
        if self._closing:
            raise MeshposError("the node is shutting down: nothing was written")
        try:
            result = change()  # a new day's document is observed from its first change (on_open)
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:
            await self._pump()
            if isinstance(exc, MeshposError):
                raise
            raise WriteFailed(
                f"the change failed ({type(exc).__name__}); nothing was written"
            ) from exc
        await self._pump()
        return result

    async def write(self, change: Callable[[Venue, int], T]) -> T:
        """NodeAPI's one write path: ``change(venue, now_ms)``, answered once durable."""
        result = await self._write(lambda: change(self.venue, self.now_ms()))
        if isinstance(result, PaymentResult) and result.receipt is not None:
            receipt = result.receipt  # the latest sale: the status tells on how many devices it is
            ledger = next(day for day in self.venue.ledgers() if day.has_receipt(receipt.id))
            client = self.replica.client_id
            clock = decode_state_vector(ledger.doc.get_state()).get(client, 0)
            self._latest_sale = (receipt.id, receipt.number, ledger.name, {client: clock})
        return result

    async def open_shift(self, user: str, opening_cash: int) -> Shift:
        return await self._write(
            lambda: self.venue.open_shift_now(user, opening_cash, self.now_ms())
        )

    async def close_shift(self, user: str, counted_cash: int) -> Shift:
        return await self._write(lambda: self.venue.close_shift(user, counted_cash, self.now_ms()))

    async def cash_move(self, user: str, kind: str, amount: int, reason: str = "") -> CashMove:
        return await self._write(
            lambda: self.venue.cash_move(user, kind, amount, reason, self.now_ms())
        )

    async def open_order(self, user: str, *, table: str = "", tab: str = "") -> Order:
        return await self._write(
            lambda: self.venue.open_order(user, self.now_ms(), table=table, tab=tab)
        )

    async def add_line(
        self,
        user: str,
        order_id: str,
        product_id: str,
        quantity: int = 1,
        *,
        modifiers: Sequence[str] = (),
        discount_id: str | None = None,
        override_stop: bool = False,
    ) -> Order:
        return await self._write(
            lambda: self.venue.add_line(
                user,
                order_id,
                product_id,
                quantity,
                self.now_ms(),
                modifiers=modifiers,
                discount_id=discount_id,
                override_stop=override_stop,
            )
        )

    async def remove_line(self, user: str, order_id: str, line_id: str, reason: str = "") -> Order:
        return await self._write(
            lambda: self.venue.remove_line(user, order_id, line_id, self.now_ms(), reason)
        )

    async def void_order(self, user: str, order_id: str, reason: str = "") -> Order:
        return await self._write(
            lambda: self.venue.void_order(user, order_id, self.now_ms(), reason)
        )

    async def send_to_kitchen(self, user: str, order_id: str) -> Ticket | None:
        return await self._write(lambda: self.venue.send_to_kitchen(user, order_id, self.now_ms()))

    async def pay(
        self,
        user: str,
        order_id: str,
        method: str,
        *,
        amount: int | None = None,
        tip: int = 0,
        tendered: int | None = None,
    ) -> PaymentResult:
        return await self.write(
            lambda venue, now: venue.pay(
                user, order_id, method, now, amount=amount, tip=tip, tendered=tendered
            )
        )

    def durability(self, receipt_id: str) -> Durability:
        """On how many devices ``receipt_id`` is committed, and whether the console holds it."""
        sync = self._sync
        assert sync is not None
        self._owed()  # the tallies of every open day, up to date
        found: tuple[str, str, dict[int, int]] | None = None
        if self._latest_sale is not None and self._latest_sale[0] == receipt_id:
            found = self._latest_sale[1:]
        else:
            for name, tally in self._tallies.items():
                state = tally.receipt_state(receipt_id)
                if state is not None:
                    found = (self.venue.receipt(receipt_id).number, name, state)
                    break
        if found is None:
            raise UnknownRecord(f"unknown receipt {receipt_id!r}")
        number, doc, needed = found
        held = sync.held_by(doc)
        peers = {  # every device keeps the ledger days it hears of, kitchen displays too
            node
            for node, beat in sync.presence.items()
            if beat.role != "console" and node != self.config.node_id
        }
        return Durability(
            receipt=number,
            devices=1 + sum(1 for state in held.values() if covers(state, needed)),
            of=1 + len(peers | held.keys()),
            console=bool(needed) and covers(sync.console_state(doc), needed),
        )

    async def refund(
        self,
        user: str,
        receipt_id: str,
        *,
        lines: Mapping[str, int] | None = None,
        method: str | None = None,
        reason: str = "",
    ) -> Refund:
        return await self._write(
            lambda: self.venue.refund(
                user, receipt_id, self.now_ms(), lines=lines, method=method, reason=reason
            )
        )

    async def inventory_move(
        self, user: str, product_id: str, kind: str, quantity: int, reason: str = ""
    ) -> InventoryMove:
        return await self._write(
            lambda: self.venue.inventory_move(
                user, product_id, kind, quantity, self.now_ms(), reason
            )
        )

    async def bump(self, user: str, ticket_id: str) -> Ticket:
        return await self._write(lambda: self.venue.bump(user, ticket_id, self.now_ms()))

    async def recall(self, user: str, ticket_id: str) -> Ticket:
        return await self._write(lambda: self.venue.recall(user, ticket_id, self.now_ms()))

    async def set_stop(self, user: str, product_id: str, stopped: bool) -> StopEntry:
        return await self._write(
            lambda: self.venue.set_stop(user, product_id, stopped, self.now_ms())
        )

    # --- clear cache ---------------------------------------------------------------------------------

    async def clear_cache(self) -> list[str]:
        """Drop the console-authored documents and pull them again from the mesh (and so the console).

        Refused while anything local is not at the console, or while there is no path to the console
        to pull from: clearing can never lose a sale, and never leaves a register without a catalog.
        """
        status = self.status()
        if status.owed or status.pending_by_document:
            raise ClearCacheRefused(
                f"{status.message}; clear cache once the indicator says All data is synced"
            )
        if status.colour != "green":
            raise ClearCacheRefused(
                f"the console cannot be reached (status {status.colour}); clear cache needs it "
                "to pull the catalog again"
            )
        sync, store, replica = self._sync, self._store, self._replica
        assert sync is not None
        assert store is not None
        assert replica is not None
        dropped = list(CONSOLE_DOCUMENTS)
        async with self._pump_lock:
            for name in dropped:
                sync.drop_doc(name)
                replica.unload(name)
                await store.drop(name)
            for name in dropped:
                sync.open_doc(name)  # empty: asks every peer for it
            self.venue.catalog = Catalog(replica.doc("catalog"))
        await self._pump()
        log.info("cache cleared: %s pulled again", ", ".join(dropped))
        return dropped

    # --- status -----------------------------------------------------------------------------------

    def status(self) -> NodeStatus:
        sync, links = self._sync, self._links
        assert sync is not None
        assert links is not None
        owed = self._owed()
        latest = self._latest_sale
        status = compute_status(
            node_id=self.config.node_id,
            role=self.config.role,
            sync=sync,
            peers={self._peers[k]: k in self._live for k in self._peers},
            uplink=self._console_live and self._uplink_ok,
            upload=self._upload_progress(),
            refusals=dict(links.refusals),
            counters=dict(self.counters),
            receipts=sum(ledger.receipt_count() for ledger in self.venue.ledgers()),
            corrupt_records=self.venue.corrupt_count(),
            uptime_s=time.monotonic() - self._started_at,
            owed_by_device=owed,
            latest_sale=self.durability(latest[0]) if latest is not None else None,
        )
        if self.venue.numbering.known:
            return status
        return replace(status, receipt_numbers_known=False)

    def _owed(self) -> dict[str, dict[str, int]]:
        """Per device, the records the console's reports lack, per kind: for this node and every
        device whose records it holds, from its own counts; for a live peer, at least what the peer
        says it owes (it may hold records this node has not received yet)."""
        sync = self._sync
        assert sync is not None
        owed: dict[str, dict[str, int]] = {}
        for name, doc in sync.docs.items():
            if not name.startswith("ledger/"):
                continue
            tally = self._tallies.get(name)
            if tally is None or tally.doc is not doc:  # a new day, or a document opened again
                if tally is not None:
                    tally.close()
                tally = self._tallies[name] = LedgerTally(doc)
                self._recounted[name] = self._changed_at.get(name, 0.0)  # just counted whole
            changed = self._changed_at.get(name, 0.0)
            quiet = time.monotonic() - changed >= RECOUNT_WHEN_QUIET
            if quiet and self._recounted.get(name) != changed:
                self._recounted[name] = changed
                if tally.recount():
                    log.warning("%s: counts corrected by a full recount", name)
            for device, gap in missing_by_register(
                tally.counts(), sync.console_reports(name)
            ).items():
                add(owed.setdefault(device, {}), gap)
        for node, beat in sync.presence.items():
            if node == self.config.node_id or beat.role == "console":
                continue
            mine = owed.setdefault(node, {})
            for kind, n in beat.owed.items():
                mine[kind] = max(mine.get(kind, 0), n)
        return {device: gap for device, gap in owed.items() if gap}

    def _upload_progress(self) -> dict[str, int]:
        if self._console_task is None or not self._upload_total:
            return {}
        done = max(0, self._upload_total - self._pending_total())
        return {"done": done, "total": self._upload_total}


def _identify(der: bytes) -> LinkPeer:
    info = peer_certificate_info(der)
    return LinkPeer(info.device_id, info.role, info.venue_id)
