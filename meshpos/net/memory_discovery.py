"""An in-memory stand-in for mDNS discovery, for tests: the same checks and callbacks as the real one.

It passes the same contract suite as :class:`~meshpos.net.discovery.Discovery` (tests/net/test_discovery.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from meshpos.net.adverts import (
    DiscoveryBase,
    FoundCallback,
    RemovedCallback,
    SameVenue,
)

log = logging.getLogger("meshpos.net.discovery")  # one logger for discovery, whichever module logs


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

    def listing(self, name: str) -> _Listing | None:
        return self._listings.get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._listings

    def _join(self, member: MemoryDiscovery) -> None:
        self._members.append(member)
        for listing in self._listings.values():
            member._deliver(listing)

    def _leave(self, member: MemoryDiscovery) -> None:
        with contextlib.suppress(ValueError):
            self._members.remove(member)


class MemoryDiscovery(DiscoveryBase):
    """The fake: same arguments, checks, callbacks and skip rules as :class:`Discovery`, no sockets."""

    def __init__(
        self,
        *,
        directory: MemoryDirectory,
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
        self.directory = directory
        self._reannouncer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._begin()
        try:
            held = self.directory.listing(self._legacy_name)
            if held is not None:  # as the real one: another venue's (our CA's name) or refused
                await self._legacy_name_held(held.txt, held.address, held.port)
            if self._ca_name in self.directory:
                raise self._duplicate(self._ca_name)
        except BaseException:
            self._state = "stopped"
            raise
        self._state = "running"
        self._own = self._name
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
