"""What a node advertises on mDNS and which advertisements count: the TXT record, the checks, the peer list.

Shared by the real discovery (``net.discovery``, zeroconf) and the in-memory fake (``net.memory_discovery``),
so both skip and report exactly the same advertisements (docs/architecture.md (Discovery)).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from meshpos.errors import ConfigError, LocalProtocolError
from meshpos.model.roles import is_node_id
from meshpos.sync import (
    PROTOCOL_VERSION,  # advertised: nodes only report peers that speak the same one
)

log = logging.getLogger("meshpos.net.discovery")  # one logger for discovery, whichever module logs

SERVICE_TYPE = "_meshpos._tcp.local."

VENUE_HASH_LEN = 16
ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")
"""Format only: which roles exist is the certificate's business, and a newer role must not look malformed."""
_HEX = re.compile(rf"^[0-9a-f]{{{VENUE_HASH_LEN}}}$")
_CA = re.compile(rf"^[0-9a-f]{{{VENUE_HASH_LEN},64}}$")
_DECIMAL = re.compile(r"^[0-9]{1,6}$")

FoundCallback = Callable[["PeerAd"], None]
SameVenue = Callable[[str, int], Awaitable[bool | None]]
"""(address, port) -> is the device there of our CA (None: cannot tell); net.discovery_probe."""
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
    ca: str = ""
    """First 16 hex digits of the venue CA's key fingerprint (``trust.ca_fingerprint``); "" from an N-1 node,
    whose advertisement carries only the venue id's hash."""


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


def service_name(node_id: str, venue: str = "", *, ca: str = "") -> str:
    """An mDNS instance name: ``<node>-<venue hash[:8]>`` (what N-1 nodes accept), or with ``ca``
    ``<node>-<CA fingerprint[:16]>``, taken when another venue with the same venue id holds the first.

    mDNS instance names must be unique on the link, and two venues sharing a LAN (a food court) may both
    have an ``R1``; they may even share the venue id (two shops that each ran the README), and only their
    CAs tell them apart (docs/architecture.md (Discovery))."""
    if ca:
        return f"{node_id}-{ca[:VENUE_HASH_LEN]}.{SERVICE_TYPE}"
    return f"{node_id}-{venue[:8]}.{SERVICE_TYPE}" if venue else f"{node_id}.{SERVICE_TYPE}"


def make_txt(*, venue: str, node_id: str, role: str, ca: str = "") -> dict[bytes, bytes | None]:
    """Our TXT record: short keys, ASCII values (a TXT record travels in every announcement). ``ca`` is new
    since N-1, which ignores TXT keys it does not know."""
    txt: dict[bytes, bytes | None] = {
        b"v": venue.encode(),
        b"node": node_id.encode(),
        b"role": role.encode(),
        b"proto": str(PROTOCOL_VERSION).encode(),
    }
    if ca:
        txt[b"ca"] = ca[:VENUE_HASH_LEN].encode()
    return txt


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
    ca: str = "",
) -> PeerAd | str:
    """Turn one resolved advertisement into a :class:`PeerAd`, or the reason it is skipped.

    Venue and version are checked before the rest, so a future version with another TXT layout is reported
    as "other protocol version", not as malformed. Extra TXT keys are allowed for the same reason.
    An advertisement with a CA fingerprint (TXT ``ca``) must carry ours (``ca``): same venue id, another
    CA is another venue. One without (an N-1 node) is taken on its venue hash alone, as N-1 takes it.
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
    their_ca = _ascii(txt, b"ca")
    if their_ca is not None and not _HEX.match(their_ca):
        return "malformed: TXT ca is not 16 hex digits"
    if their_ca is not None and ca and their_ca != ca[:VENUE_HASH_LEN]:
        return f"other venue: same venue id, another CA (ca={their_ca})"
    proto = _ascii(txt, b"proto")
    if proto is None or not _DECIMAL.match(proto):
        return "malformed: TXT proto is missing or not a number"
    if int(proto) != PROTOCOL_VERSION:
        return f"other protocol version {int(proto)} (we speak {PROTOCOL_VERSION})"
    node = _ascii(txt, b"node")
    if not is_node_id(node):  # the configuration's rule: peers' TXT records are input
        return "malformed: TXT node is missing or not a valid node id"
    labels = {node, service_name(node, their_venue)[: -len(suffix)]}
    if their_ca is not None:
        labels.add(service_name(node, ca=their_ca)[: -len(suffix)])
    if label not in labels:
        return f"malformed: TXT node {node!r} does not match the service name {label!r}"
    role = _ascii(txt, b"role")
    if role is None or not ROLE.match(role):
        return "malformed: TXT role is missing or invalid"
    ipv4 = [a for a in addresses if _is_ipv4(a)]
    if not ipv4:
        return "malformed: no IPv4 address"
    if port is None or not 0 < port < 65536:
        return f"malformed: port {port}"
    return PeerAd(node, role, their_venue, ipv4[0], port, int(proto), their_ca or "")


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


class DiscoveryBase:
    """Argument checks, peer bookkeeping and callbacks shared by the real discovery and the fake."""

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
        on_found: FoundCallback,
        on_removed: RemovedCallback | None = None,
        same_venue: SameVenue | None = None,
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
        if not isinstance(ca, str) or not _CA.match(ca):
            raise ConfigError(
                f"discovery ca {ca!r}: the venue CA's key fingerprint (trust.ca_fingerprint), hex"
            )
        if not is_node_id(node_id):
            raise ConfigError(f"node_id {node_id!r}: use 1-32 letters, digits, '-' or '_'")
        if not ROLE.match(role):
            raise ConfigError(f"role {role!r}: lowercase letters, digits, '-' or '_'")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(f"discovery port {port!r}: must be 1-65535")
        if not reannounce_interval > 0:
            raise ConfigError(f"reannounce_interval {reannounce_interval!r}: must be > 0 seconds")
        self.interfaces = list(interfaces)
        self.reannounce_interval = float(reannounce_interval)
        ca = ca[:VENUE_HASH_LEN]
        self._ad = PeerAd(node_id, role, venue_hash(venue_id), address, port, PROTOCOL_VERSION, ca)
        self._legacy_name = service_name(node_id, self._ad.venue)  # what N-1 nodes accept
        self._ca_name = service_name(node_id, ca=ca)  # when another venue with our id holds it
        self._name = self._legacy_name
        self._own = ""  # the name we hold, once registered: while probing, one heard is another's
        self._on_found = on_found
        self._on_removed = on_removed
        self._same_venue = same_venue
        self._known: dict[str, PeerAd] = {}  # service name (lower case) -> last reported ad
        self._logged: set[tuple[str, str]] = set()
        self._stats = DiscoveryStats()
        self._state = "new"

    @property
    def ad(self) -> PeerAd:
        """Our own advertisement."""
        return self._ad

    @property
    def name(self) -> str:
        """The mDNS name we advertise under (final once started: see ``service_name``)."""
        return self._name

    @property
    def peers(self) -> dict[str, PeerAd]:
        """Peers currently advertised (node id -> ad): a snapshot, and not proof that they are alive."""
        return {ad.node_id: ad for ad in self._known.values()}

    @property
    def stats(self) -> DiscoveryStats:
        return self._stats

    def _txt(self) -> dict[bytes, bytes | None]:
        return make_txt(
            venue=self._ad.venue, node_id=self._ad.node_id, role=self._ad.role, ca=self._ad.ca
        )

    def _duplicate(self, name: str, detail: str = "another device of this venue") -> ConfigError:
        return ConfigError(
            f"node id {self._ad.node_id!r} is already advertised on this network by {detail} "
            f"(mDNS name {name.split('.', 1)[0]!r}): every node needs its own node id"
        )

    async def _legacy_name_held(
        self, holder: TxtRecord | None, address: str | None, port: int | None
    ) -> None:
        """Our first name is held by someone else: decide on what its advertisement (``None``: no answer)
        says, and either raise :class:`ConfigError` (a device of this venue, or one we cannot tell from
        one) or take the name made from our CA (another venue with our venue id: a food hall, two shops
        that each ran the README). An N-1 holder says no CA: its certificate is asked (``same_venue``)."""
        name = self._legacy_name
        if holder is None:
            raise self._duplicate(name, "a device that did not answer when asked which venue it is")
        their_ca = _ascii(holder, b"ca")
        ours = None
        if their_ca is None and self._same_venue is not None and address and port:
            ours = await self._same_venue(address, port)
            their_ca = "" if ours is False else None  # "": of the previous release, not our CA
        if ours is True:
            raise self._duplicate(name, "another device of this venue (of the previous release)")
        if their_ca is None:
            raise self._duplicate(
                name,
                "a device of an older release with this venue id, whose advertisement does not say "
                "which CA it belongs to (and whose certificate could not be asked): either another "
                "device of this venue has this node id, or another venue with the same venue id runs "
                "an older release (upgrade it or give this node another id)",
            )
        if their_ca == self._ad.ca:
            raise self._duplicate(name)
        log.info(
            "discovery %s: %s is another venue's (same venue id %s, ca=%s); advertising as %s, "
            "which nodes of the previous release do not find",
            self._ad.node_id,
            name,
            self._ad.venue,
            their_ca or "none: an older release, its certificate not of our CA",
            self._ca_name,
        )
        self._name = self._ca_name

    def _begin(self) -> None:
        if self._state != "new":
            raise LocalProtocolError(f"discovery for {self._ad.node_id} was already started")
        self._state = "starting"

    def _consider(
        self, name: str, txt: TxtRecord, addresses: Sequence[str], port: int | None
    ) -> None:
        result = classify(
            name, txt, addresses, port, own_name=self._own, venue=self._ad.venue, ca=self._ad.ca
        )
        key = name.lower()
        if not isinstance(result, str):
            result = self._prefer_proven(key, result)
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

    def _prefer_proven(self, key: str, ad: PeerAd) -> PeerAd | str:
        """One node id, two names: one with our CA's fingerprint is our venue's and replaces the other (an
        N-1 node of another venue with our venue id, or this node's name before a restart: it changes
        when another venue's device with its id comes or goes); one without is then not ours. Our own
        node id is never a peer."""
        if ad.node_id == self._ad.node_id:
            return "another device with our node id"
        for other_key, other in list(self._known.items()):
            if other_key == key or other.node_id != ad.node_id:
                continue
            if other.ca and not ad.ca:
                return f"node id {ad.node_id!r} is advertised with our venue's CA: this one is another venue's"
            if ad.ca:
                self._forget(other_key, "is advertised under another name now")
        return ad

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
