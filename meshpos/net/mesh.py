"""The mesh service: the node's links to its peers and the discovery that finds them, as ports.

docs/architecture.md (Links). The node is handed factories for both (the CLI picks ``Links`` and
``Discovery``; tests may pass others); this joins them: discovery's finds become links, a revoked device's
links are dropped, and the links report to the engine (a :class:`~meshpos.net.port.LinkHandler`).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Protocol


class MeshLinks(Protocol):
    """One link per peer, dialled and redialled (``meshpos.net.links.Links``)."""

    port: int
    yjs_port: int  # the listener of stock Yjs clients with a token (browsers); 0: none
    refusals: Counter[str]
    clock_skews: dict[str, float]  # linked peer -> its clock minus ours (ops/clock.py)

    async def start(self) -> int:
        """Listen; return the port."""

    async def stop(self) -> None: ...

    def peer_found(self, node_id: str, host: str, port: int) -> None: ...

    def peer_removed(self, node_id: str) -> None: ...

    def drop(self, node_id: str, reason: str) -> None: ...


class PeerDiscovery(Protocol):
    """Advertises this node and reports its peers (``meshpos.net.discovery.Discovery``)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


#: (venue id, the venue CA certificate (PEM), the port the links listen on, on_found(node, host, port),
#: on_removed(node)) -> discovery
DiscoveryFactory = Callable[
    [str, str, int, Callable[[str, str, int], None], Callable[[str], None]], PeerDiscovery
]


class Mesh:
    """Links plus discovery (none: peers are added by address, :meth:`add_peer`)."""

    def __init__(
        self,
        venue_id: str,
        links: MeshLinks,
        discovery: DiscoveryFactory | None,
        *,
        ca_pem: str = "",
    ) -> None:
        self.venue_id = venue_id
        self.ca_pem = ca_pem  # a venue is its CA: its id may be another venue's too (Discovery)
        self.links = links
        self._discovery_factory = discovery
        self._discovery: PeerDiscovery | None = None

    @property
    def port(self) -> int:
        return self.links.port

    @property
    def yjs_port(self) -> int:
        return self.links.yjs_port

    def refusals(self) -> dict[str, int]:
        return dict(self.links.refusals)

    def peer_clocks(self) -> dict[str, float]:
        return dict(self.links.clock_skews)

    async def start(self) -> int:
        port = await self.links.start()
        if self._discovery_factory is not None:
            self._discovery = self._discovery_factory(
                self.venue_id, self.ca_pem, port, self.links.peer_found, self.links.peer_removed
            )
            await self._discovery.start()
        return port

    def add_peer(self, node_id: str, host: str, port: int) -> None:
        """Link to a peer whose address is known without mDNS (tests, static set-ups)."""
        self.links.peer_found(node_id, host, port)

    def drop(self, device: str, reason: str) -> None:
        self.links.drop(device, reason)

    async def stop_discovery(self) -> None:
        discovery, self._discovery = self._discovery, None
        if discovery is not None:
            with contextlib.suppress(Exception):
                await discovery.stop()

    async def stop(self) -> None:
        await self.stop_discovery()
        await self.links.stop()
