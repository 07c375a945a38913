"""Finding the venue's other nodes on the LAN with mDNS / DNS-SD (zeroconf), plus an in-memory fake.

Each node advertises ``<node_id>._meshpos._tcp.local.`` with a short TXT record (``v`` venue hash, ``node``,
``role``, ``proto``); the port comes from the SRV record and the address from the A record, so nothing is said
twice and nothing can disagree. Every node browses the same type and reports peers of its own venue that speak
its protocol version. Anything else on the air (another venue, another version, a malformed record, our own
advertisement) is skipped with one INFO line naming the reason, because "why does register 2 not see register
3" is the first question an operator asks.

**Liveness is not taken from mDNS.** A crashed or unplugged node stays listed for about 19 minutes (FACTS.md),
so ``on_found`` means "here is where to dial", and ``on_removed`` (sent on a clean goodbye) is only a hint.
Whether a peer is alive is decided by the mesh's own heartbeats over its connections.

The venue hash only keeps venues apart on a shared LAN; it is not a secret (anyone who knows the venue id can
compute it). Who a peer is, and its role, is proven by its certificate on connect, not by its advertisement.

Interfaces always come from the caller: mDNS on an interface nobody chose is how a test or a demo ends up
multicasting on a real network.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import re
import socket
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from zeroconf import IPVersion, NonUniqueNameException, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from meshpos.errors import ConfigError, LocalProtocolError
from meshpos.sync import (
    PROTOCOL_VERSION,  # advertised: nodes only report peers that speak the same one
)

log = logging.getLogger(__name__)

SERVICE_TYPE = "_meshpos._tcp.local."

VENUE_HASH_LEN = 16
NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
"""The same rule the configuration applies; checked again here because peers' TXT records are input."""
ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")
"""Format only: which roles exist is the certificate's business, and a newer role must not look malformed."""
_HEX = re.compile(rf"^[0-9a-f]{{{VENUE_HASH_LEN}}}$")
_DECIMAL = re.compile(r"^[0-9]{1,6}$")

FoundCallback = Callable[["PeerAd"], None]
RemovedCallback = Callable[[str], None]
TxtRecord = Mapping[bytes, bytes | None]


def venue_hash(venue_id: str) -> str:
    """First 16 hex digits of sha256(venue id): keeps venues apart without putting the id on the air."""
    return hashlib.sha256(venue_id.encode()).hexdigest()[:VENUE_HASH_LEN]


@dataclass(frozen=True, slots=True)
class PeerAd:
    """What a peer's advertisement says: where to dial it, and who it claims to be (the certificate decides)."""

    node_id: str
    role: str
    venue: str  # venue_hash(venue_id)
    address: str
    port: int
    protocol: int


@dataclass(slots=True)
class DiscoveryStats:
    """Counters for status pages and tests: they show what was heard, not only what was reported."""

    found: int = 0
    """``on_found`` calls (a new peer, or a known one at a new address/port/role)."""
    removed: int = 0
    skipped: int = 0
    """Advertisements ignored (other venue, other version, malformed, our own)."""
    resolve_failures: int = 0
    reannounced: int = 0


class PeerDiscovery(Protocol):
    """The port the node depends on; :class:`Discovery` and :class:`MemoryDiscovery` both satisfy it."""

    @property
    def ad(self) -> PeerAd: ...

    @property
    def peers(self) -> dict[str, PeerAd]: ...

    @property
    def stats(self) -> DiscoveryStats: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def service_name(node_id: str, venue: str = "") -> str:
    """Our mDNS instance name. It carries part of the venue hash: two venues sharing a LAN (a food court)
    may both have an ``R1``, and mDNS instance names must be unique on the link."""
    return f"{node_id}-{venue[:8]}.{SERVICE_TYPE}" if venue else f"{node_id}.{SERVICE_TYPE}"


def make_txt(*, venue: str, node_id: str, role: str) -> dict[bytes, bytes | None]:
    """Our TXT record: short keys, ASCII values (a TXT record travels in every announcement)."""
    return {
        b"v": venue.encode(),
        b"node": node_id.encode(),
        b"role": role.encode(),
        b"proto": str(PROTOCOL_VERSION).encode(),
    }


def _ascii(txt: TxtRecord, key: bytes) -> str | None:
    value = txt.get(key)
    if value is None:
        return None
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        return None


def classify(
    name: str,
    txt: TxtRecord,
    addresses: Sequence[str],
    port: int | None,
    *,
    own_name: str,
    venue: str,
) -> PeerAd | str:
    """Turn one resolved advertisement into a :class:`PeerAd`, or the reason it is skipped.

    Venue and version are checked before the rest, so a future version with another TXT layout is reported
    as "other protocol version", not as malformed. Extra TXT keys are allowed for the same reason.
    """
    if name.lower() == own_name.lower():
        return "our own node"
    suffix = "." + SERVICE_TYPE
    if not name.lower().endswith(suffix.lower()):
        return f"malformed: name not in {SERVICE_TYPE}"
    label = name[: -len(suffix)]
    their_venue = _ascii(txt, b"v")
    if their_venue is None or not _HEX.match(their_venue):
        return "malformed: TXT v is missing or not 16 hex digits"
    if their_venue != venue:
        return f"other venue (v={their_venue})"
    proto = _ascii(txt, b"proto")
    if proto is None or not _DECIMAL.match(proto):
        return "malformed: TXT proto is missing or not a number"
    if int(proto) != PROTOCOL_VERSION:
        return f"other protocol version {int(proto)} (we speak {PROTOCOL_VERSION})"
    node = _ascii(txt, b"node")
    if node is None or not NODE_ID.match(node):
        return "malformed: TXT node is missing or not a valid node id"
    if label not in (node, service_name(node, their_venue)[: -len(suffix)]):
        return f"malformed: TXT node {node!r} does not match the service name {label!r}"
    role = _ascii(txt, b"role")
    if role is None or not ROLE.match(role):
        return "malformed: TXT role is missing or invalid"
    ipv4 = [a for a in addresses if _is_ipv4(a)]
    if not ipv4:
        return "malformed: no IPv4 address"
    if port is None or not 0 < port < 65536:
        return f"malformed: port {port}"
    return PeerAd(node, role, their_venue, ipv4[0], port, int(proto))


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


class _DiscoveryBase:
    """Argument checks, peer bookkeeping and callbacks shared by the real discovery and the fake."""

    def __init__(
        self,
        *,
        venue_id: str,
        node_id: str,
        role: str,
        port: int,
        interfaces: Sequence[str],
        address: str | None = None,
        reannounce_interval: float = 60.0,
        on_found: FoundCallback,
        on_removed: RemovedCallback | None = None,
    ) -> None:
        if isinstance(interfaces, str) or not interfaces:
            raise ConfigError(
                "discovery needs at least one interface address (e.g. 127.0.0.11 for a demo on loopback); "
                "mDNS never picks interfaces by itself"
            )
        for interface in interfaces:
            if not _is_ipv4(interface):
                raise ConfigError(f"discovery interface {interface!r}: must be an IPv4 address")
        address = interfaces[0] if address is None else address
        if not _is_ipv4(address):
            raise ConfigError(f"discovery address {address!r}: must be an IPv4 address")
        if not isinstance(venue_id, str) or not venue_id:
            raise ConfigError("discovery needs a venue id")
        if not NODE_ID.match(node_id):
            raise ConfigError(f"node_id {node_id!r}: use 1-32 letters, digits, '-' or '_'")
        if not ROLE.match(role):
            raise ConfigError(f"role {role!r}: lowercase letters, digits, '-' or '_'")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(f"discovery port {port!r}: must be 1-65535")
        if not reannounce_interval > 0:
            raise ConfigError(f"reannounce_interval {reannounce_interval!r}: must be > 0 seconds")
        self.interfaces = list(interfaces)
        self.reannounce_interval = float(reannounce_interval)
        self._ad = PeerAd(node_id, role, venue_hash(venue_id), address, port, PROTOCOL_VERSION)
        self._name = service_name(node_id, self._ad.venue)
        self._on_found = on_found
        self._on_removed = on_removed
        self._known: dict[str, PeerAd] = {}  # service name (lower case) -> last reported ad
        self._logged: set[tuple[str, str]] = set()
        self._stats = DiscoveryStats()
        self._state = "new"

    @property
    def ad(self) -> PeerAd:
        """Our own advertisement."""
        return self._ad

    @property
    def peers(self) -> dict[str, PeerAd]:
        """Peers currently advertised (node id -> ad): a snapshot, and not proof that they are alive."""
        return {ad.node_id: ad for ad in self._known.values()}

    @property
    def stats(self) -> DiscoveryStats:
        return self._stats

    def _txt(self) -> dict[bytes, bytes | None]:
        return make_txt(venue=self._ad.venue, node_id=self._ad.node_id, role=self._ad.role)

    def _begin(self) -> None:
        if self._state != "new":
            raise LocalProtocolError(f"discovery for {self._ad.node_id} was already started")
        self._state = "starting"

    def _consider(
        self, name: str, txt: TxtRecord, addresses: Sequence[str], port: int | None
    ) -> None:
        result = classify(name, txt, addresses, port, own_name=self._name, venue=self._ad.venue)
        key = name.lower()
        if isinstance(result, str):
            self._stats.skipped += 1
            level = logging.DEBUG if (key, result) in self._logged else logging.INFO
            self._logged.add((key, result))
            log.log(level, "discovery %s: ignoring %s: %s", self._ad.node_id, name, result)
            self._forget(name, "no longer advertises a peer we use")
            return
        if self._known.get(key) == result:
            return
        self._known[key] = result
        self._stats.found += 1
        log.info(
            "discovery %s: found %s (%s) at %s:%d",
            self._ad.node_id,
            result.node_id,
            result.role,
            result.address,
            result.port,
        )
        try:
            self._on_found(result)
        except Exception:
            log.exception("discovery %s: on_found callback failed", self._ad.node_id)

    def _forget(self, name: str, why: str = "said goodbye") -> None:
        ad = self._known.pop(name.lower(), None)
        if ad is None:
            return
        self._stats.removed += 1
        log.info("discovery %s: %s %s", self._ad.node_id, ad.node_id, why)
        if self._on_removed is None:
            return
        try:
            self._on_removed(ad.node_id)
        except Exception:
            log.exception("discovery %s: on_removed callback failed", self._ad.node_id)

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


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


class Discovery(_DiscoveryBase):
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
        node_id: str,
        role: str,
        port: int,
        interfaces: Sequence[str],
        address: str | None = None,
        reannounce_interval: float = 60.0,
        resolve_timeout: float = 3.0,
        on_found: FoundCallback,
        on_removed: RemovedCallback | None = None,
    ) -> None:
        super().__init__(
            venue_id=venue_id,
            node_id=node_id,
            role=role,
            port=port,
            interfaces=interfaces,
            address=address,
            reannounce_interval=reannounce_interval,
            on_found=on_found,
            on_removed=on_removed,
        )
        if not resolve_timeout > 0:
            raise ConfigError(f"resolve_timeout {resolve_timeout!r}: must be > 0 seconds")
        self.resolve_timeout = float(resolve_timeout)
        self._azc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._resolving: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._begin()
        for interface in self.interfaces:
            _check_local_address(interface)
        self._azc = AsyncZeroconf(interfaces=list(self.interfaces), ip_version=IPVersion.V4Only)
        self._info = AsyncServiceInfo(
            SERVICE_TYPE,
            self._name,
            port=self._ad.port,
            properties=self._txt(),
            server=f"meshpos-{self._ad.node_id}.local.",
            parsed_addresses=[self._ad.address],
        )
        try:
            # Browse first: peers announcing while we probe are heard, not missed.
            self._browser = AsyncServiceBrowser(
                self._azc.zeroconf, SERVICE_TYPE, handlers=[self._on_service_state_change]
            )
            try:
                announced = await self._azc.async_register_service(self._info)
            except NonUniqueNameException:
                raise ConfigError(
                    f"node id {self._ad.node_id!r} is already advertised on this network by another "
                    "device: every node needs its own node id"
                ) from None
        except BaseException:
            await self._shutdown(goodbye=False)
            self._state = "stopped"
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

    async def _resolve(self, name: str) -> None:
        assert self._azc is not None
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


# --- in-memory fake -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Listing:
    name: str
    txt: dict[bytes, bytes | None]
    address: str
    port: int


class MemoryDirectory:
    """A LAN's worth of advertisements in memory, shared by the :class:`MemoryDiscovery` instances of a test.

    Deliveries happen on the next loop iteration (``call_soon``), never inside the call that caused them,
    as with the real network. ``publish``/``withdraw`` put raw advertisements on the "air" (malformed ones
    too), so the contract suite can run the same cases against the fake and the real discovery.
    """

    def __init__(self) -> None:
        self._listings: dict[str, _Listing] = {}
        self._members: list[MemoryDiscovery] = []

    def publish(
        self, name: str, txt: Mapping[bytes, bytes | None], address: str, port: int
    ) -> None:
        """Add or change an advertisement; an unchanged one is a no-op (as a re-announce is for zeroconf)."""
        listing = _Listing(name, dict(txt), address, port)
        key = name.lower()
        if self._listings.get(key) == listing:
            return
        self._listings[key] = listing
        for member in self._members:
            member._deliver(listing)

    def withdraw(self, name: str) -> None:
        """A goodbye: every member forgets the name."""
        if self._listings.pop(name.lower(), None) is None:
            return
        for member in self._members:
            member._deliver_goodbye(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._listings

    def _join(self, member: MemoryDiscovery) -> None:
        self._members.append(member)
        for listing in self._listings.values():
            member._deliver(listing)

    def _leave(self, member: MemoryDiscovery) -> None:
        with contextlib.suppress(ValueError):
            self._members.remove(member)


class MemoryDiscovery(_DiscoveryBase):
    """The fake: same arguments, checks, callbacks and skip rules as :class:`Discovery`, no sockets."""

    def __init__(
        self,
        *,
        directory: MemoryDirectory,
        venue_id: str,
        node_id: str,
        role: str,
        port: int,
        interfaces: Sequence[str],
        address: str | None = None,
        reannounce_interval: float = 60.0,
        on_found: FoundCallback,
        on_removed: RemovedCallback | None = None,
    ) -> None:
        super().__init__(
            venue_id=venue_id,
            node_id=node_id,
            role=role,
            port=port,
            interfaces=interfaces,
            address=address,
            reannounce_interval=reannounce_interval,
            on_found=on_found,
            on_removed=on_removed,
        )
        self.directory = directory
        self._reannouncer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._begin()
        if self._name in self.directory:
            self._state = "stopped"
            raise ConfigError(
                f"node id {self._ad.node_id!r} is already advertised on this network by another device: "
                "every node needs its own node id"
            )
        self._state = "running"
        self.directory._join(self)
        self.directory.publish(self._name, self._txt(), self._ad.address, self._ad.port)
        self._reannouncer = asyncio.get_running_loop().create_task(self._reannounce())

    async def stop(self) -> None:
        if self._state != "running":
            self._state = "stopped"
            return
        self._state = "stopped"
        if self._reannouncer is not None:
            self._reannouncer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reannouncer
        self.directory._leave(self)
        self.directory.withdraw(self._name)
        self._known.clear()

    async def _reannounce(self) -> None:
        while True:
            await asyncio.sleep(self.reannounce_interval)
            self.directory.publish(self._name, self._txt(), self._ad.address, self._ad.port)
            self._stats.reannounced += 1

    def _deliver(self, listing: _Listing) -> None:
        asyncio.get_running_loop().call_soon(self._receive, listing)

    def _deliver_goodbye(self, name: str) -> None:
        asyncio.get_running_loop().call_soon(self._receive_goodbye, name)

    def _receive(self, listing: _Listing) -> None:
        if self._state == "running":
            self._consider(listing.name, listing.txt, [listing.address], listing.port)

    def _receive_goodbye(self, name: str) -> None:
        if self._state == "running":
            self._forget(name)
