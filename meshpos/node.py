"""Node: one device of the venue, composed of the sync engine and the services on it.

docs/architecture.md (Node). ``async with Node(config, store=..., links=..., ...) as node:`` opens the
store, the engine and its documents, then the services (receipt numbers, revocations, the relay, the
status, the mesh, the local API); every register operation returns once its change is committed, and
only then is it forwarded. The adapters (the SQLite store, the mesh's links, discovery, the HTTP server,
the console link) are passed in: :func:`meshpos.node_adapters.make_node` picks the real ones.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from meshpos.config import Config
from meshpos.engine import (
    MAX_MESSAGE_SIZE,
    DayClosed,
    Engine,
    EngineEvent,
    Rejection,
    Subscription,
)
from meshpos.engine.memory import release_memory, tune_allocator
from meshpos.errors import CorruptDatabase, MeshposError
from meshpos.model import PaymentResult, Replica, Venue
from meshpos.model.day_end import shift_key
from meshpos.model.documents import day_of, is_ledger, kitchen_name, ledger_name
from meshpos.model.kept_parts import PART_META, PART_META_END, KeptParts
from meshpos.model.kept_shifts import (
    CLOSED_META,
    CLOSED_META_END,
    SHIFT_META,
    SHIFT_META_END,
    KeptShifts,
)
from meshpos.net.mesh import DiscoveryFactory, Mesh
from meshpos.node_ports import ApiFactory, ApiServer, LinksFactory, StoreOpener
from meshpos.node_status import Durability, NodeStatus
from meshpos.ops.metrics import NodeMetrics, TimedDocuments
from meshpos.register.days import DayCloser
from meshpos.register.kitchen_acks import KitchenAcks
from meshpos.register.last_z import LastZ
from meshpos.register.numbering import ReceiptCounter, check_new_series
from meshpos.register.operations import RegisterOperations
from meshpos.register.request_keys import RequestKeys
from meshpos.register.status import StatusService
from meshpos.relay.service import ConsoleLinkFactory, RelayService
from meshpos.store import Store
from meshpos.store.owner import check_owner, mark_owner
from meshpos.sync import SyncConfig
from meshpos.trust import DeviceIdentity, load_identity, stored_token
from meshpos.trust.console_key import ConsoleChecker
from meshpos.trust.console_strict import console_signed_mode
from meshpos.trust.device_word import DeviceWordChecker, DeviceWordSigner
from meshpos.trust.identity import certified_window, check_identity
from meshpos.trust.relay_proof import RelayProof
from meshpos.trust.revocations import Revocations
from meshpos.web.port import BusinessDays
from meshpos.web.reads import VenueReads

log = logging.getLogger("meshpos.node")

T = TypeVar("T")

#: the business days the current request holds (``Node.holding_days``); None outside a request
_REQUEST_HOLDS: ContextVar[list[tuple[DayCloser, str]] | None] = ContextVar(
    "meshpos_request_holds", default=None
)


@dataclass(frozen=True, slots=True)
class _Running:
    """Everything a started node is made of."""

    identity: DeviceIdentity
    store: Store
    engine: Engine
    numbers: ReceiptCounter
    revocations: Revocations
    relay: RelayService
    status: StatusService
    days: DayCloser
    mesh: Mesh
    api: ApiServer
    api_token: str
    acks: KitchenAcks | None  # a kds's acknowledgements of the tickets it holds
    last_z: LastZ | None = None  # a register ends the day its Z was the last of
    keys: RequestKeys | None = None  # the API's Idempotency-Key answers (register/request_keys.py)


class Node(VenueReads, RegisterOperations):
    """One device; it is the web layer's :class:`meshpos.web.port.NodeAPI` (reads from VenueReads)."""

    def __init__(
        self,
        config: Config,
        *,
        store: StoreOpener,
        links: LinksFactory,
        api: ApiFactory,
        discovery: DiscoveryFactory | None = None,
        console_link: ConsoleLinkFactory | None = None,
        identity: DeviceIdentity | None = None,
        clock: Callable[[], float] = time.time,
        new_receipt_series: bool = False,
    ) -> None:
        """``new_receipt_series``: the operator's override for a register that does not know its last
        receipt number (see :mod:`meshpos.model.numbering`): number from now on in a new tagged series."""
        self.config = config
        self._open_store, self._links, self._api = store, links, api
        self._discovery, self._console_link = discovery, console_link
        self._identity = identity
        self._clock = clock
        self._new_receipt_series = new_receipt_series
        self._rng = random.Random()
        self.counters: Counter[str] = Counter()
        self.metrics = NodeMetrics()  # GET /metrics; the store's commits are timed into it
        self._running: _Running | None = None
        self._stopped = False

    # --- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> Node:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Open the store and the documents, start the services, then the network and the API."""
        tune_allocator()  # before the day's first big block (engine/memory.py)
        # what exists before the start (the program's modules, an embedding program's objects) is not
        # walked again by the start's collection (engine/memory.py, since_start); the stop unfreezes
        gc.freeze()
        try:
            await self._start()
        except BaseException:
            gc.unfreeze()  # (a start that failed stopped what it began, or began nothing)
            raise

    async def _start(self) -> None:
        config = self.config
        identity = self._identity or load_identity(config.identity_path)
        check_identity(identity, config.node_id, config.role, config.venue_id, config.identity_path)
        check_new_series(config, new_series=self._new_receipt_series)
        store = await self._open_store(config)
        try:
            unmarked = await check_owner(  # reads only
                store, identity.venue_id, identity.device_id, config.db_path
            )
            # read (or make) the token while holding the data dir: a junk token stops us before we
            # listen anywhere, and two first starts cannot both make one
            token = stored_token(config.data_dir / "api.token")
            checker = ConsoleChecker(identity.ca_pem, identity.venue_id)
            words = DeviceWordChecker(identity.ca_pem, identity.venue_id)
            signed, on_strict = console_signed_mode(
                config.console_signed, config.data_dir, config.identity_path
            )
            engine = Engine(
                TimedDocuments(store, self.metrics),
                venue=identity.venue_id,
                node_id=config.node_id,
                role=config.role,
                priority=config.priority,
                sync_config=replace(
                    SyncConfig.paced(config.heartbeat_interval, MAX_MESSAGE_SIZE),
                    console_check=checker,  # the console's signed word (Security)
                    console_tick_check=checker.tick,  # and its tick at rest (issue 18, tick)
                    console_epoch_check=checker.epoch,  # and its database's epoch (sync/_epoch)
                    console_signed=signed,  # ("auto": strict once it took a statement)
                    on_console_strict=on_strict,
                    held_signer=DeviceWordSigner(identity),  # its attestations (issue 18, sign)
                    held_check=words,  # and other devices'
                    console_fresh_s=config.console_fresh_s,  # (issue 18, fresh; node.toml)
                    upload_bound_s=config.upload_bound_s,
                ),
                rng=self._rng,
                counters=self.counters,
                clock=self._clock,
            )
            try:
                await engine.open()
            except CorruptDatabase as damaged:  # (engine/stores.stored_document)
                raise CorruptDatabase(
                    f"{config.db_path}: {damaged.message}; it was left untouched. Restore this "
                    "device's last backup with 'meshpos restore --replace' (the file is put aside); "
                    "what reached the other registers or the console comes back from them"
                ) from None
            new_series = self._new_receipt_series
            numbers = await ReceiptCounter.open(engine, store, config, new_series=new_series)
            revocations = await Revocations.open(engine, identity.ca_pem, store)
            today = numbers.venue.business_date(self.now_ms())
            keys = await RequestKeys.open(engine, store, today)
            kept = await store.meta_range(PART_META, PART_META_END)  # (model/kept_parts.py)
            numbers.venue.kept_parts = KeptParts(engine.sync.closed_state, kept.items())
            held = await store.meta_range(SHIFT_META, SHIFT_META_END)  # (model/kept_shifts.py)
            held.update(await store.meta_range(CLOSED_META, CLOSED_META_END))
            numbers.venue.kept_shifts = KeptShifts(engine.sync.closed_state, held.items())
            for _, exc in numbers.venue.kept_shifts.damaged_closed:  # a reprint loads its day
                log.error("%s: a reprint of the shift loads its business day", exc)
            for shift_id, exc in numbers.venue.kept_shifts.damaged:  # its day is read itself
                log.error("%s: its business day is loaded to read the shift", exc)
                name = await engine.find_closed(shift_key(shift_id))
                if name is not None:
                    await engine.open_day(name)
            checker.is_revoked = revocations.is_revoked
            words.is_revoked = revocations.is_revoked
        except BaseException:
            await store.close()
            raise
        relay = RelayService(
            engine,
            config,
            identity.venue_id,
            self.counters,
            self._console_link,
            RelayProof(identity, config.console_token) if config.console_url else None,
        )
        links = self._links(identity, engine, revocations.is_revoked)
        mesh = Mesh(identity.venue_id, links, self._discovery, ca_pem=identity.ca_pem)
        status = StatusService(
            engine,
            numbers.venue,
            relay,
            config,
            self.counters,
            mesh.refusals,
            mesh.peer_clocks,
            certified_window(identity),
        )
        # count the loaded days now, then give back what start-up freed (the store's rows, the days'
        # first reads: glibc would keep it mapped as the process's high-water mark), collecting only
        # what the start made (**changed**, issue 18 catch-up: the full collection walked every object
        # of the process, 25-90 ms, before a restarting register served or synced)
        status.publish_owed()
        release_memory(since_start=True)
        days = DayCloser(engine, numbers.venue, status, config, now_ms=self.now_ms)
        engine.subscribe(self._on_engine_event, DayClosed)
        acks = KitchenAcks(engine, numbers.venue, self.now_ms) if config.role == "kds" else None
        last_z = LastZ(engine, numbers.venue, self.now_ms) if config.role == "register" else None
        revocations.on_revoked = lambda device: mesh.drop(device, "revoked")
        api = self._api(self, token)
        self._running = _Running(
            identity,
            store,
            engine,
            numbers,
            revocations,
            relay,
            status,
            days,
            mesh,
            api,
            token,
            acks,
            last_z,
            keys,
        )
        try:
            await self._start_network(config)
            if unmarked:  # a started node's database is its own (store/owner.py)
                await mark_owner(store, identity.venue_id, identity.device_id)
        except BaseException:
            # what did start (links, ticker, API server) must not outlive the failure
            with contextlib.suppress(Exception):
                await self.stop()
            await store.close()
            raise
        log.info(
            "node %s (%s) started: mesh port %d%s",
            config.node_id,
            config.role,
            self.port,
            f", Yjs token port {self.yjs_port}" if self.yjs_port else "",
        )

    async def _start_network(self, config: Config) -> None:
        run = self._run()
        await run.mesh.start()
        run.engine.start_ticking(
            min(0.1, config.heartbeat_interval / 5),
            before=[run.status.publish_owed],
            after=[run.status.publish_indicator, run.relay.manage, run.days.tick],
        )
        run.relay.start()
        if run.acks is not None:
            run.acks.start()
        if run.last_z is not None:
            run.last_z.start()
        await run.api.start()

    async def stop(self) -> None:
        """Tell peers goodbye, stop the network, commit what is left and close the store."""
        run = self._running
        if run is None or self._stopped:
            return
        self._stopped = True
        # what the start froze is collected as usual again (a process that starts another node, a
        # test's, would otherwise keep this one's cycles frozen for ever)
        gc.unfreeze()
        try:
            await run.mesh.stop_discovery()
            await run.api.stop()
            if run.acks is not None:  # no acknowledgement is written into a stopping engine
                await run.acks.stop()
            if run.last_z is not None:  # nor a day's end
                await run.last_z.stop()
            await run.engine.begin_stop()
            await run.days.stop()
            await run.relay.stop()
            await run.mesh.stop()
            await run.engine.stop()
        finally:
            await run.store.close()
        log.info("node %s stopped", self.config.node_id)

    def request_keys(self) -> RequestKeys | None:
        return self._run().keys

    def _run(self) -> _Running:
        if self._running is None:
            raise MeshposError("the node is not started")
        return self._running

    # --- what the services offer ------------------------------------------------------------------

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
    def session_idle_s(self) -> float:
        return self.config.session_idle_s

    @property
    def venue(self) -> Venue:
        return self._run().numbers.venue

    @property
    def replica(self) -> Replica:
        return self._run().engine.replica

    @property
    def engine(self) -> Engine:
        """The engine the services run on: for tools that drive it directly (``bench leak`` closes a
        day through it)."""
        return self._run().engine

    @property
    def venue_id(self) -> str:
        """The venue of this node's certificate."""
        return self._run().identity.venue_id

    @property
    def api_token(self) -> str:
        return self._run().api_token

    @property
    def api_url(self) -> str:
        return f"http://{self.config.api_host}:{self._run().api.port}" if self._running else ""

    @property
    def port(self) -> int:
        return self._run().mesh.port if self._running else 0

    @property
    def yjs_port(self) -> int:
        """Where browsers' Yjs clients with a token connect (docs/api.md, Stock Yjs clients); 0: none."""
        return self._run().mesh.yjs_port if self._running else 0

    @property
    def mesh(self) -> Mesh:
        return self._run().mesh

    @property
    def rejections(self) -> list[Rejection]:
        return self._run().engine.rejections

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def write(self, change: Callable[[Venue, int], T], *, wait: bool = False) -> T:
        """The one write path: ``change(venue, now_ms)``, answered once durable (``wait``: its
        update may be held ``linger_ms``, ``register.operations``)."""
        run = self._run()
        result = await run.engine.write(
            lambda: change(run.numbers.venue, self.now_ms()),
            wait_ms=self.config.linger_ms if wait else 0,
        )
        if isinstance(result, PaymentResult):
            run.status.sold(result)  # the status tells on how many devices the latest sale is
        return result

    def changes(self) -> Subscription:
        """Subscribe to committed changes and presence changes (close the subscription when done)."""
        return self._run().engine.changes()

    def add_peer(self, node_id: str, host: str, port: int) -> None:
        self._run().mesh.add_peer(node_id, host, port)

    def status(self) -> NodeStatus:
        return replace(self._run().status.status(), yjs_port=self.yjs_port)

    def durability(self, receipt_id: str) -> Durability:
        return self._run().status.durability(receipt_id)

    async def clear_cache(self) -> list[str]:
        return await self._run().status.clear_cache()

    # --- closed business days (docs/architecture.md (Documents)) -----------------------------------

    def _on_engine_event(self, event: EngineEvent) -> None:
        if isinstance(event, DayClosed) and is_ledger(event.doc):
            self.index.forget(day_of(event.doc))  # the pages' index lets go of its document

    @contextlib.contextmanager
    def holding_days(self) -> Iterator[None]:
        """Within: the business days this request opens or reads through :meth:`open_day_of`,
        :meth:`open_day` and :meth:`load_shift_day` stay loaded until it is done (``DayCloser.hold``).
        Told through a context variable, so every route that opens a day holds it without a handle
        passed through each of them."""
        held: list[tuple[DayCloser, str]] = []
        token = _REQUEST_HOLDS.set(held)
        try:
            yield
        finally:
            _REQUEST_HOLDS.reset(token)
            for closer, date in held:
                closer.release(date)

    def _hold(self, date: str) -> None:
        held = _REQUEST_HOLDS.get()
        if held is None or any(d == date for _, d in held):
            return  # (not in a request: the closer's idle rule alone)
        closer = self._run().days
        closer.hold(date)
        held.append((closer, date))

    async def open_day_of(self, key: str) -> bool:
        """Load the closed business day holding receipt ``key`` (an id or a number), if one does."""
        engine = self._run().engine
        name = await engine.find_closed(key)
        if name is None:
            return False
        self._hold(day_of(name))
        return await engine.open_day(name)

    async def load_shift_day(self) -> None:
        """Load the closed day this register's open shift opened on (``model/kept_shifts.py``)."""
        venue = self.venue
        shift = venue.open_shift()
        day = None if shift is None else venue.kept_shifts.day_of(shift.id)
        if day is not None:
            await self.open_day(day)

    async def open_day(self, date: str, *, kitchen: bool = False) -> bool:
        """Load business day ``date``'s ledger (or kitchen) if it is closed (it closes again by the
        rule)."""
        engine = self._run().engine
        name = kitchen_name(date) if kitchen else ledger_name(date)
        closed = name in engine.closed_days()
        if closed or name in engine.sync.docs:  # (a date no day has is not held)
            self._hold(date)
        return closed and await engine.open_day(name)

    def days(self) -> BusinessDays:
        engine = self._run().engine
        ledgers = [n for n in engine.closed_days() if is_ledger(n)]
        dropped = {day_of(n) for n in ledgers if engine.sync.is_dropped(n)}
        return self.business_days({day_of(n) for n in ledgers} - dropped, dropped)

    def is_revoked(self, device_id: str) -> bool:
        return self._running is not None and self._running.revocations.is_revoked(device_id)

    def revocations(self) -> list[dict[str, str | int]]:
        return self._run().revocations.entries() if self._running else []

    async def revoke(self, entry: Mapping[str, Any]) -> None:
        await self._run().revocations.revoke(entry)
