"""The reference console's network side: relays sync over websockets, people and scripts use HTTP JSON.

* ``ws://HOST:PORT/v1/venues/<venue id>/sync`` with ``Authorization: Bearer <venue token>``: the relay of
  that venue speaks the meshpos sync protocol (the console is one more peer). A wrong token, a token of
  another venue, or an unknown path is refused before the upgrade, counted and logged with its reason.
  Given an ``ssl_context`` (``meshpos console --tls-cert --tls-key``) it is ``wss://``.
* ``GET /health`` on the same port answers ``ok`` (503: the database refuses writes, console/health.py).
  A relay probes its venue's sync path with its token and without the upgrade: 200 when the token is
  good, else the refusal above (401/403 and its reason), or 503 when the database cannot be read.
* The JSON API (:mod:`meshpos.console.api`) listens on its own port.
* Per venue, :class:`~meshpos.console.devices.DeviceView` keeps what the relays' heartbeats say about every
  device (updated on each tick), for the sync status per register.
* A venue's hub (its engine and documents) loads when its relay connects or an edit needs it, and
  unloads once idle for ``venue_idle_seconds``: no relay session, no edit, nothing left to materialise
  (docs/architecture.md (Relay and console)). Start-up loads none; reports and status read the database.

The websocket stack is the mesh's own (:mod:`meshpos.net.wsconn`, docs/architecture.md (Wire)): the token
check and the venue's path decide on the upgrade request, and each accepted relay is a
:class:`~meshpos.net.channel.Channel` telling the venue's hub about a ``PeerKind.RELAY`` peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from http import HTTPStatus

from websockets.http11 import Request

from meshpos.console.db import ConsoleDB, SharedConsoleDB
from meshpos.console.devices import DeviceView, Sighting
from meshpos.console.health import write_problem
from meshpos.console.hub import VenueHub
from meshpos.console.notices import StoredNotice
from meshpos.console.refusals import Refusals
from meshpos.engine.memory import release_memory
from meshpos.errors import MeshposError
from meshpos.net.channel import MAX_BACKLOG, Channel
from meshpos.net.port import LinkPeer, PeerKind
from meshpos.net.wsconn import Answer, LinkRefused, accept, listen
from meshpos.sync import FEATURES_HEADER
from meshpos.trust.console_key import ConsoleSigning
from meshpos.trust.relay_proof import (
    CERT_HEADER,
    NONCE_HEADER,
    NONCE_LINE,
    PROOF_HEADER,
    RelayAdmission,
    replayed_words,
    revoked_words,
)

log = logging.getLogger("meshpos.console")

SYNC_PATH = re.compile(r"^/v1/venues/(?P<venue>[A-Za-z0-9_.-]{1,64})/sync$")
MAX_MESSAGE_SIZE = 4 * 2**20
OPEN_TIMEOUT = 10.0  # seconds a relay has for TLS and its upgrade request
SHARE_EVERY_S = 1.0  # how often sightings go to a database other console processes share
SHARED_FRESH_S = 3 * SHARE_EVERY_S  # a device another process heard within this is reachable
RELAY_ROLE = "register"  # a relay is one of the venue's registers (its hello says which)
VENUE_IDLE_S = 60.0  # a venue's hub unloads this long after its last relay session or edit
CLOSE_DAYS_EVERY_S = 1.0  # how often past, quiet days of the loaded venues are closed
REVOKED_EVERY_S = 1.0  # how often linked relays are checked against their venue's revocations
CLOSE_POLICY = 1008  # the close a relay reads as "the console no longer takes me" (relay/link.py)
# read with ``get``, one sent twice raised out of the handshake: no answer, a traceback logged each time
SINGLE_HEADERS = (
    "Authorization",
    "Upgrade",
    CERT_HEADER,
    PROOF_HEADER,
    NONCE_HEADER,
    FEATURES_HEADER,
)


class ConsoleServer:
    """The console's one port for relays: ``/health``, token probes and refusals in plain HTTP, each
    accepted relay a channel to its venue's hub; and the ticker that drives every hub."""

    def __init__(
        self,
        db: ConsoleDB,
        host: str,
        port: int,
        *,
        heartbeat_interval: float = 1.0,
        materialise_delay: float = 0.2,
        ssl_context: ssl.SSLContext | None = None,
        max_backlog: int = MAX_BACKLOG,
        venue_idle_seconds: float = VENUE_IDLE_S,
        signers: Mapping[str, ConsoleSigning] | None = None,
        admissions: Mapping[str, RelayAdmission] | None = None,
    ) -> None:
        self.db = db
        # venue id -> the check of a relay's proof of its device (trust/relay_proof.py), for the
        # venues whose directory this console was started with; others admit by the token alone
        self.admissions = dict(admissions or {})
        # venue id -> the console's signing key of that venue (Security); a venue without one says
        # nothing signed (``console.runner.warn_unsigned`` says so at start)
        self.signers = dict(signers or {})
        self.venue_idle_seconds = venue_idle_seconds
        self.counters: Counter[str] = Counter()  # this process: hubs loaded and unloaded
        self.venue_counters: dict[str, Counter[str]] = {}  # this process's counts per venue
        self.max_backlog = max_backlog  # bytes queued for a relay that is not reading them
        self.host = host
        self.port = port
        self.heartbeat_interval = heartbeat_interval
        self.materialise_delay = materialise_delay
        self.ssl_context = ssl_context
        self.hubs: dict[str, VenueHub] = {}
        self.devices: dict[str, DeviceView] = {}
        # counted, kept and logged at a bounded rate (anyone can knock): console/refusals.py
        self._refuse = Refusals()
        self.refusals, self.recent_refusals = self._refuse.counts, self._refuse.recent
        self._server: asyncio.Server | None = None
        self._channels: set[Channel] = set()
        self._accepting: set[asyncio.Task[None]] = set()
        self._seq = 0
        self._ticker: asyncio.Task[None] | None = None
        self._hub_lock = asyncio.Lock()
        self._opening: set[str] = set()  # venues whose hub is loading
        self._notices: asyncio.Queue[StoredNotice | None] = asyncio.Queue()
        self._hearing: asyncio.Task[None] | None = None
        self._sharing: asyncio.Task[None] | None = None
        self._shared_at = 0.0
        self._closed_days_at = 0.0
        self._relay_devices: dict[Channel, tuple[str, str]] = {}  # -> venue, proven device
        self._revoked_at = 0.0
        self._dropping: set[asyncio.Task[None]] = set()  # revoked relays' links closing

    async def start(self) -> int:
        if isinstance(self.db, SharedConsoleDB):
            # before any hub loads: a commit is either in what a hub loads or heard after it
            await self.db.listen(self._notices.put_nowait)
            self._hearing = asyncio.create_task(self._hear_forever(self.db))
        # no hub loads here: a venue's loads when its relay connects (docs/architecture.md (Relay and
        # console)); no websocket pings: the sync protocol's own heartbeats carry liveness
        self._server = await listen(self._on_client, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ticker = asyncio.create_task(self._tick_forever())
        log.info("console listening for relays on %s", self.url)
        return self.port

    @property
    def url(self) -> str:
        """What relays put in ``console_url``: ``ws://`` or, with a certificate, ``wss://``."""
        return f"{'wss' if self.ssl_context else 'ws'}://{self.host}:{self.port}"

    async def stop(self, settle_within: float | None = None) -> None:
        """Stop serving and let every hub settle; with ``settle_within``, at most that long each
        (:class:`~meshpos.console.hub.Unsettled` otherwise: a test's teardown says what hung)."""
        for task in (self._ticker, self._hearing, self._sharing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._server is not None:
            self._server.close()
        for task in self._accepting:
            task.cancel()
        await asyncio.gather(*self._accepting, *self._dropping, return_exceptions=True)
        await asyncio.gather(
            *(channel.close(1001, "console stopping") for channel in list(self._channels)),
            return_exceptions=True,
        )
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._server.wait_closed()
        for hub in self.hubs.values():
            await hub.settle(settle_within)

    async def hub(self, venue_id: str) -> VenueHub:
        """The venue's hub, loaded now if it is not (a relay connecting, an edit)."""
        async with self._hub_lock:
            hub = self.hubs.get(venue_id)
            if hub is None:
                hub = VenueHub(
                    venue_id,
                    self.db,
                    max_message_size=MAX_MESSAGE_SIZE,
                    heartbeat_interval=self.heartbeat_interval,
                    materialise_delay=self.materialise_delay,
                    counters=self.venue_counters.setdefault(venue_id, Counter()),
                    console_signer=self.signers.get(venue_id),
                )
                self._opening.add(venue_id)
                try:
                    await hub.load()
                finally:
                    self._opening.discard(venue_id)
                self.hubs[venue_id] = hub
                self.counters["hubs_loaded"] += 1
                log.info("venue %s loaded (%d venues loaded)", venue_id, len(self.hubs))
            hub.used_at = time.monotonic()
            return hub

    @contextlib.asynccontextmanager
    async def using(self, venue_id: str) -> AsyncIterator[VenueHub]:
        """The venue's hub, loaded, and kept loaded while the caller uses it (an edit)."""
        hub = await self.hub(venue_id)
        hub.busy += 1
        try:
            yield hub
        finally:
            hub.busy -= 1
            hub.used_at = time.monotonic()

    async def _close_past_days(self, now: float) -> None:
        """Once a second: close each loaded venue's past days that are in the reports and quiet
        (``venue_idle_seconds``), so a hub holds only its open days (VenueHub.closable_days)."""
        if now - self._closed_days_at < CLOSE_DAYS_EVERY_S:
            return
        self._closed_days_at = now
        wall_ms = int(time.time() * 1000)
        for hub in list(self.hubs.values()):
            if not hub.closed:
                await hub.close_past_days(wall_ms, self.venue_idle_seconds)

    async def _unload_idle(self) -> None:
        """Unload the hubs idle for ``venue_idle_seconds``; their memory goes back to the OS."""
        now = time.monotonic()
        idle = [
            venue
            for venue, hub in self.hubs.items()
            if hub.idle and now - hub.used_at >= self.venue_idle_seconds
        ]
        if not idle:
            return
        unloaded = 0
        async with self._hub_lock:
            for venue in idle:
                hub = self.hubs.get(venue)
                if hub is None or not hub.idle or now - hub.used_at < self.venue_idle_seconds:
                    continue  # a relay or an edit came meanwhile
                del self.hubs[venue]
                await hub.close()
                unloaded += 1
                self.counters["hubs_unloaded"] += 1
                log.info("venue %s unloaded after %.0f s idle", venue, now - hub.used_at)
        if unloaded:
            await asyncio.to_thread(release_memory)

    async def _hear_forever(self, db: SharedConsoleDB) -> None:
        """Apply what the other console processes commit to the hubs here, in commit order (a
        failure is retried, so nothing is skipped); a venue without a hub loads it all when opened."""
        while True:
            notice = await self._notices.get()
            while True:
                try:
                    await self._hear(db, notice)
                    break
                except MeshposError as exc:  # the database: try again
                    log.error("cannot apply another console process's commit: %s", exc)
                    await asyncio.sleep(1.0)

    async def _hear(self, db: SharedConsoleDB, notice: StoredNotice | None) -> None:
        if notice is None:  # unheard for a while: every hub reads its documents again
            for hub in list(self.hubs.values()):
                await hub.reread()
            return
        venue = notice.venue_id
        if venue in self._opening:
            hub = await self.hub(venue)  # loading: wait for it, then apply (twice is harmless)
        elif (loaded := self.hubs.get(venue)) is not None:
            hub = loaded
        else:
            return  # not loaded here: its hub reads the database when it loads
        updates = await db.stored_updates(notice)
        if updates is None:  # compacted meanwhile: the whole document holds them
            whole = await db.load_document(venue, notice.doc_name)
            updates = [] if whole is None else [whole]
        await hub.apply_stored(notice.doc_name, updates, notice.version)

    def device_view(self, venue_id: str) -> DeviceView:
        """What the relays of ``venue_id`` told this console about every device."""
        return self.devices.setdefault(venue_id, DeviceView())

    async def _check_request(self, address: str, request: Request) -> Answer | None:
        """None lets a relay with its venue's token upgrade; anything else is answered in HTTP."""
        if request.path == "/health":
            ok = not await write_problem(self.db)  # no details: anyone may ask (console/health.py)
            return (200, "ok\n") if ok else (503, "the console's database refuses writes now\n")
        twice = [name for name in SINGLE_HEADERS if len(request.headers.get_all(name)) > 1]
        if twice:  # outside, second round
            said = f"header {twice[0]} sent more than once: send it once"
            self._refuse(address, "header", said)
            return HTTPStatus.BAD_REQUEST, said + "\n"
        match = SYNC_PATH.match(request.path)
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        refusal: tuple[HTTPStatus, str, str]
        if match is None:
            refusal = HTTPStatus.NOT_FOUND, "path", f"unknown path {request.path[:80]!r}"
        else:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            venue = None
            if scheme.lower() == "bearer" and token.strip():
                try:
                    venue = await self.db.venue_for_token(token.strip())
                except MeshposError as exc:  # the relay retries; anyone reads ``said``: no details
                    log.error("cannot check a venue token: %s", exc)
                    said = "the console cannot check tokens now: its database cannot be read"
                    self._knocked(match["venue"], request, token.strip(), said)
                    return HTTPStatus.SERVICE_UNAVAILABLE, said + "\n"
            if scheme.lower() != "bearer" or not token.strip():
                refusal = HTTPStatus.UNAUTHORIZED, "token", "missing venue token"
            elif venue is None:
                refusal = HTTPStatus.UNAUTHORIZED, "token", "wrong venue token"
                self._knocked(match["venue"], request, token.strip(), refusal[2])
            elif venue != match["venue"]:
                refusal = (
                    HTTPStatus.FORBIDDEN,
                    "venue",
                    f"the token is for venue {venue}, not {match['venue']}",
                )
            elif (why := await self._device_refusal(venue, request, token, upgrade)) is not None:
                refusal = why
            elif not upgrade:
                # a relay's probe: the token is good, say so without a failed handshake, with the
                # nonce its upgrade's proof signs (trust/relay_proof.py; an N−1 relay reads line 1)
                admission = self.admissions.get(venue)
                nonce = "" if admission is None else f"{NONCE_LINE}{admission.issue_nonce()}\n"
                return HTTPStatus.OK, f"ok: venue token accepted\n{nonce}"
            else:
                return None
        status, kind, reason = refusal
        self._refuse(address, kind, reason)
        return status, reason + "\n"

    def _knocked(self, venue: str, request: Request, token: str, why: str) -> None:
        """The device a refused knock proves it is (its name only: ``RelayAdmission.knocking``) shown
        so in the venue's sync status with ``why`` (a wrong venue token; outside2: the console's own
        database), within the refusals' budget of checks (anyone knocks)."""
        admission = self.admissions.get(venue)
        if admission is None or not self._refuse.may_check():
            return
        if device := admission.knocking(request.headers, token):
            self.device_view(venue).refused(device, why, time.time())

    async def _device_refusal(
        self, venue: str, request: Request, token: str, upgrade: bool
    ) -> tuple[HTTPStatus, str, str] | None:
        """Why a relay with a good token is still refused: its device is revoked, or unproven (or its
        proof not fresh, at the upgrade) in a venue that revoked some (Security); or its console
        nonce was taken already by any console process of the venue, a restarted one too (the
        database's table: this process's own set is the cheap first check), or cannot be checked."""
        admission = self.admissions.get(venue)
        if admission is None:
            return None
        try:
            why = admission.refusal(request.headers, token.strip(), upgrade=upgrade)
        except MeshposError as exc:  # the venue's revoked.json cannot be read: refuse, say why
            why = f"the console cannot read venue {venue}'s revocations: {exc}"
        nonce = request.headers.get(NONCE_HEADER, "")
        if why is not None or not (upgrade and nonce):
            return None if why is None else (HTTPStatus.FORBIDDEN, "device", why)
        try:  # only a proof that held gets here: only the venue's devices add rows
            if await self.db.take_relay_nonce(venue, nonce):
                return None
        except MeshposError as exc:  # never admitted on an error: the relay dials again
            why = f"the console cannot check its relay nonces now ({exc}); try again"
            # its proof held: the Status tab names the console's problem, not "not reachable"
            self._knocked(venue, request, token, why)
            return HTTPStatus.SERVICE_UNAVAILABLE, "nonces", why
        return HTTPStatus.FORBIDDEN, "device", replayed_words(elsewhere=True)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._accepting.add(task)
        peername = writer.get_extra_info("peername")
        address = peername[0] if peername else "?"
        try:
            conn = await accept(
                reader,
                writer,
                self.ssl_context,
                max_size=MAX_MESSAGE_SIZE + 4096,
                timeout=OPEN_TIMEOUT,
                route=lambda request: self._check_request(address, request),
                client_cert=False,
                compress=True,  # as websockets' own server did: relays' uplinks may be slow
            )
        except LinkRefused as exc:
            if exc.kind != "http":  # answered in HTTP: counted by _check_request if a refusal
                self._refuse(address, exc.kind, exc.reason)
            writer.close()
            return
        finally:
            self._accepting.discard(task)
        match = SYNC_PATH.match(conn.path)
        assert match is not None  # _check_request let only these through
        try:
            hub = await self.hub(match["venue"])
        except MeshposError as exc:  # the venue's documents cannot be read: the relay retries
            log.error("venue %s: %s", match["venue"], exc)
            await conn.close(1011, "the console cannot open this venue")
            return
        self._seq += 1
        peer = LinkPeer("", RELAY_ROLE, match["venue"], PeerKind.RELAY, conn.features)
        channel = Channel(
            f"relay#{self._seq}@{conn.remote}",
            peer,
            conn,
            hub,
            max_backlog=self.max_backlog,
            on_overflow=self._overflow,
            on_finish=self._finished,
        )
        self._channels.add(channel)
        admission = self.admissions.get(match["venue"])
        if admission is not None and conn.request is not None:
            device = admission.device(conn.request.headers)
            if device:
                self._relay_devices[channel] = match["venue"], device
        channel.start()

    def _finished(self, channel: Channel, _reason: str) -> None:
        self._channels.discard(channel)
        self._relay_devices.pop(channel, None)

    def _drop_revoked(self, now: float) -> None:
        """Close the link of a relay whose device was revoked since it came in: it was checked only
        at its upgrade, and a stolen register that was the live relay would have gone on."""
        if now - self._revoked_at < REVOKED_EVERY_S or not self._relay_devices:
            return
        self._revoked_at = now
        for channel, (venue, device) in list(self._relay_devices.items()):
            try:
                revoked = self.admissions[venue].is_revoked(device)
            except MeshposError as exc:  # its revoked.json: the relay stays, said once per reason
                self._refuse(channel.conn.remote.rpartition(":")[0], "device", str(exc))
                continue
            if revoked:
                del self._relay_devices[channel]
                why = revoked_words(device, venue)
                self._refuse(channel.conn.remote.rpartition(":")[0], "device", why)
                task = asyncio.create_task(channel.close(CLOSE_POLICY, why))
                self._dropping.add(task)  # (kept until done; stop() waits for them)
                task.add_done_callback(self._dropping.discard)

    def _overflow(self, channel: Channel) -> None:
        self._refuse(
            channel.conn.remote.rpartition(":")[0],
            "backlog",
            f"{channel.queued:,} bytes wait for the relay (limit {channel.max_backlog:,}): "
            "it is not reading",
        )

    async def shared_sightings(self, venue_id: str) -> dict[str, Sighting]:
        """What every console process sharing the database heard of the venue's devices ({} when
        this process is the only one)."""
        if not isinstance(self.db, SharedConsoleDB):
            return {}
        return await self.db.sightings(venue_id)

    async def _tick_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            seen: dict[str, dict[str, Sighting]] = {}
            for hub in list(self.hubs.values()):
                hub.tick(loop.time())
                hub.pump_soon()  # never awaited here: one hub's commit holds up no other's beats
                live = self.device_view(hub.venue_id).observe(hub.sync.presence, time.time())
                if live:
                    seen[hub.venue_id] = live
            self._share(seen, loop.time())
            self._drop_revoked(loop.time())
            try:
                await self._close_past_days(loop.time())
                await self._unload_idle()
            except MeshposError as exc:  # the database, settling a hub: tried again next tick
                log.error("cannot unload an idle venue: %s", exc)
            await asyncio.sleep(min(0.1, self.heartbeat_interval / 5))

    def _share(self, seen: dict[str, dict[str, Sighting]], now: float) -> None:
        """Store the sightings for the other console processes, once per SHARE_EVERY_S, in the
        background (a slow database never holds the ticks up)."""
        if not isinstance(self.db, SharedConsoleDB) or not seen:
            return
        if now - self._shared_at < SHARE_EVERY_S:
            return
        if self._sharing is not None and not self._sharing.done():
            return
        self._shared_at = now
        self._sharing = asyncio.create_task(self._store_sightings(seen))

    async def _store_sightings(self, seen: dict[str, dict[str, Sighting]]) -> None:
        try:
            await self.db.record_sightings(seen)
        except MeshposError as exc:
            log.error("cannot share what the relays said: %s", exc)
