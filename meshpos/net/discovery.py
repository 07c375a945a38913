"""Finding the venue's other nodes on the LAN with mDNS / DNS-SD over zeroconf (fake: ``memory_discovery``).

Each node advertises ``<node_id>-<venue hash[:8]>._meshpos._tcp.local.`` (or, when another venue with the same
venue id holds that name, ``<node_id>-<CA fingerprint[:16]>``: adverts.service_name) with a short TXT record
(``v`` venue hash, ``ca`` the venue CA key's fingerprint, ``node``, ``role``, ``proto``); the port comes from the SRV record and the address from the A record, so nothing is said
twice and nothing can disagree. Every node browses the same type and reports peers of its own venue that speak
its protocol version. Anything else on the air (another venue, another version, a malformed record, our own
advertisement) is skipped with one INFO line naming the reason, because "why does register 2 not see register
3" is the first question an operator asks.

**Liveness is not taken from mDNS.** A crashed or unplugged node stays listed for about 19 minutes
(docs/architecture.md (Discovery)), so ``on_found`` means "here is where to dial", and ``on_removed`` (sent on
a clean goodbye) is only a hint.
Whether a peer is alive is decided by the mesh's own heartbeats over its connections.

**Changed** (the twenty-first session): a goodbye is a train of three packets over 250 ms, and an answer
the leaving node queued before it (a reply held back up to 1.2 s by zeroconf's aggregation) can arrive
between them: the name was reported found again and removed a second time (the CI run of 6e86663 failed
on it). An advertisement heard within ``GOODBYE_HOLD_S`` of its name's goodbye is resolved only when the
hold ends, and a goodbye in the meantime drops it: a node that really restarts is found a second later.

The venue hash and the CA fingerprint only keep venues apart on a shared LAN (two venues may share an id; they
never share a CA); neither is a secret (anyone who knows the venue id can compute the one, anyone on the LAN
hears the other). Who a peer is, and its role, is proven by its certificate on connect, not by its advertisement.

Interfaces always come from the caller: mDNS on an interface nobody chose is how a test or a demo ends up
multicasting on a real network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Coroutine, Sequence
from typing import Any

from zeroconf import IPVersion, NonUniqueNameException, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from meshpos.errors import ConfigError
from meshpos.net.adverts import (
    SERVICE_TYPE,
    DiscoveryBase,
    FoundCallback,
    RemovedCallback,
    SameVenue,
)

log = logging.getLogger("meshpos.net.discovery")  # one logger for discovery, whichever module logs

GOODBYE_HOLD_S = 1.0
"""How long after a name's goodbye a new advertisement of it waits before it is resolved (module doc)."""
_GOODBYES_KEPT = 1024  # goodbyes remembered at most: a flood of made-up names cannot grow the table


def _check_local_address(address: str) -> None:
    """Fail loudly: zeroconf only logs (at debug) an interface address this host does not have, then
    stays silent forever."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError as exc:
            raise ConfigError(
                f"discovery interface {address}: not an address of this host ({exc.strerror})"
            ) from exc


class Discovery(DiscoveryBase):
    """mDNS discovery on the given IPv4 interfaces (zeroconf's asyncio API, never blocking the loop).

    ``start()`` returns once our name is probed and registered (about 1 s: RFC 6762 probing) and the browser
    runs; a node id already advertised on the LAN raises :class:`ConfigError`. Added or changed services are
    resolved in background tasks (``resolve_timeout`` each, retried with back-off while still listed), so a
    silent peer never stalls anything. ``on_found`` is called for each peer of our venue and protocol, and
    again when its address, port or role changes; ``on_removed`` on its goodbye (a hint, see module doc).
    Callbacks run on the event loop and may come before ``start()`` returns (we browse while probing).
    Our advertisement is re-sent every ``reannounce_interval`` seconds so peers that flushed it (after an
    outage) find us again without waiting for their next routine query.
    """

    def __init__(
        self,
        *,
        venue_id: str,
        ca: str,
        node_id: str,
        role: str,
        port: int,
        interfaces: Sequence[str],
        address: str | None = None,
        reannounce_interval: float = 60.0,
        resolve_timeout: float = 3.0,
        on_found: FoundCallback,
        on_removed: RemovedCallback | None = None,
        same_venue: SameVenue | None = None,
    ) -> None:
        super().__init__(
            venue_id=venue_id,
            ca=ca,
            node_id=node_id,
            role=role,
            port=port,
            interfaces=interfaces,
            address=address,
            reannounce_interval=reannounce_interval,
            on_found=on_found,
            on_removed=on_removed,
            same_venue=same_venue,
        )
        if not resolve_timeout > 0:
            raise ConfigError(f"resolve_timeout {resolve_timeout!r}: must be > 0 seconds")
        self.resolve_timeout = float(resolve_timeout)
        self._azc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._resolving: dict[str, asyncio.Task[None]] = {}
        self._goodbyes: dict[
            str, float
        ] = {}  # name -> loop time of its last goodbye, within the hold
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._begin()
        for interface in self.interfaces:
            _check_local_address(interface)
        self._azc = AsyncZeroconf(interfaces=list(self.interfaces), ip_version=IPVersion.V4Only)
        try:
            # Browse first: peers announcing while we probe are heard, not missed.
            self._browser = AsyncServiceBrowser(
                self._azc.zeroconf, SERVICE_TYPE, handlers=[self._on_service_state_change]
            )
            announced = await self._claim_name()
        except BaseException:
            # stopped first: a browser callback while shutting down must start no resolve, which
            # would outlive zeroconf and log a traceback (NotRunningException) under the refusal
            self._state = "stopped"
            await self._shutdown(goodbye=False)
            raise
        self._spawn(
            _await_quietly(announced)
        )  # the remaining announcements go out in the background
        self._spawn(self._reannounce())
        self._state = "running"
        log.info(
            "discovery %s: advertising %s:%d on %s",
            self._ad.node_id,
            self._ad.address,
            self._ad.port,
            ", ".join(self.interfaces),
        )

    async def _claim_name(self) -> Any:
        """Register under the name N-1 nodes accept, or under our CA's if another venue with our venue id
        holds that one (adverts.DiscoveryBase._legacy_name_held); a device of our venue under either
        name is a duplicate node id (ConfigError). Returns the awaitable of the remaining announcements."""
        assert self._azc is not None
        try:
            return await self._register(self._legacy_name)
        except NonUniqueNameException:
            pass
        holder = AsyncServiceInfo(SERVICE_TYPE, self._legacy_name)
        answered = await holder.async_request(self._azc.zeroconf, self.resolve_timeout * 1000)
        addresses = holder.parsed_addresses(IPVersion.V4Only) if answered else []
        await self._legacy_name_held(
            holder.properties if answered else None,
            addresses[0] if addresses else None,
            holder.port,
        )
        try:
            return await self._register(self._name)
        except NonUniqueNameException:
            raise self._duplicate(self._name) from None

    async def _register(self, name: str) -> Any:
        assert self._azc is not None
        self._name = name
        self._info = AsyncServiceInfo(
            SERVICE_TYPE,
            name,
            port=self._ad.port,
            properties=self._txt(),
            # the host name is the advertisement's too: two venues' R2 on one LAN (a food court, two
            # test runs on one machine) must not answer for each other's address
            server=f"meshpos-{name.split('.', 1)[0]}.local.",
            parsed_addresses=[self._ad.address],
        )
        announced = await self._azc.async_register_service(self._info)
        # Nothing is announced yet (the announcing task has not run: no await since). A device of our
        # venue under our CA's name (it found our first name held by another venue when it started)
        # is in the cache by now, filled by the browser while we probed: then we are its twin.
        twin = self._ca_name if name == self._legacy_name else None
        if twin is not None and self._azc.zeroconf.cache.current_entry_with_name_and_alias(
            SERVICE_TYPE, twin
        ):
            if isinstance(announced, asyncio.Future):
                announced.cancel()
            self._azc.zeroconf.registry.async_remove(self._info)
            raise self._duplicate(twin)
        self._own = name
        return announced

    async def stop(self) -> None:
        """Say goodbye (peers get ``on_removed`` within milliseconds) and release the sockets. Idempotent."""
        if self._state in ("new", "stopped"):
            self._state = "stopped"
            return
        self._state = "stopped"
        await self._shutdown(goodbye=True)

    async def _shutdown(self, *, goodbye: bool) -> None:
        tasks = [*self._tasks, *self._resolving.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._resolving.clear()
        self._known.clear()
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        if self._azc is not None:
            if goodbye and self._info is not None:
                with contextlib.suppress(Exception):
                    await (await self._azc.async_unregister_service(self._info))
            await self._azc.async_close()
            self._azc = None

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reannounce(self) -> None:
        assert self._azc is not None
        assert self._info is not None
        while True:
            await asyncio.sleep(self.reannounce_interval)
            try:
                await self._azc.async_update_service(self._info)
            except Exception:
                log.exception("discovery %s: re-announce failed", self._ad.node_id)
            else:
                self._stats.reannounced += 1

    def _on_service_state_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        """Browser callback, on the event loop: never resolves inline, only schedules."""
        if self._state not in ("starting", "running"):
            return
        key = name.lower()
        previous = self._resolving.pop(key, None)
        if previous is not None:
            previous.cancel()
        if state_change is ServiceStateChange.Removed:
            self._heard_goodbye(key)
            self._forget(name)
            return
        task = asyncio.get_running_loop().create_task(self._resolve(name))
        self._resolving[key] = task
        task.add_done_callback(lambda t: self._resolve_done(key, t))

    def _resolve_done(self, key: str, task: asyncio.Task[None]) -> None:
        if self._resolving.get(key) is task:
            del self._resolving[key]
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "discovery %s: resolving %s failed",
                self._ad.node_id,
                key,
                exc_info=task.exception(),
            )

    def _heard_goodbye(self, key: str) -> None:
        now = asyncio.get_running_loop().time()
        if len(self._goodbyes) >= _GOODBYES_KEPT:
            self._goodbyes = {k: t for k, t in self._goodbyes.items() if now - t < GOODBYE_HOLD_S}
            if len(self._goodbyes) >= _GOODBYES_KEPT:
                self._goodbyes.clear()
        self._goodbyes[key] = now

    def _hold_left(self, key: str) -> float:
        """Seconds until an advertisement of ``key`` may be believed again after its goodbye (0: now)."""
        said = self._goodbyes.get(key)
        if said is None:
            return 0.0
        left = said + GOODBYE_HOLD_S - asyncio.get_running_loop().time()
        if left <= 0:
            del self._goodbyes[key]
            return 0.0
        return left

    async def _resolve(self, name: str) -> None:
        assert self._azc is not None
        held = self._hold_left(name.lower())
        if held > 0:
            # a goodbye of this name arrives before the hold ends when this was a late answer of the
            # node that left: the goodbye cancels this task (_on_service_state_change)
            await asyncio.sleep(held)
        delay = 1.0
        while True:
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            if await info.async_request(self._azc.zeroconf, self.resolve_timeout * 1000):
                addresses = info.parsed_addresses(IPVersion.V4Only)
                self._consider(name, info.properties, addresses, info.port)
                return
            self._stats.resolve_failures += 1
            level = logging.INFO if delay == 1.0 else logging.DEBUG
            log.log(
                level,
                "discovery %s: no answer resolving %s within %.1f s; retrying in %.0f s",
                self._ad.node_id,
                name,
                self.resolve_timeout,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def _await_quietly(awaitable: Any) -> None:
    with contextlib.suppress(Exception):
        await awaitable
