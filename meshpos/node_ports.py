"""What a node is handed: the ports its adapters fill (docs/architecture.md (Node)).

:class:`meshpos.node.Node` builds its parts on these; :func:`meshpos.node_adapters.make_node` fills them
with the real things (the data dir's SQLite store, mTLS links, the local HTTP API), and a test may fill
them with others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from meshpos.config import Config
from meshpos.net.mesh import MeshLinks
from meshpos.net.port import LinkHandler
from meshpos.store import Store
from meshpos.trust import DeviceIdentity
from meshpos.web.port import NodeAPI


class ApiServer(Protocol):
    """The node's local HTTP API; it tells ``meshpos status`` where it listens (``api.url``)."""

    @property
    def port(self) -> int: ...

    async def start(self) -> int: ...

    async def stop(self) -> None: ...


#: opens (and locks) the node's store
StoreOpener = Callable[[Config], Awaitable[Store]]
#: (this device's identity, the engine to report to, is_revoked) -> its links to its peers
LinksFactory = Callable[[DeviceIdentity, LinkHandler, Callable[[str], bool]], MeshLinks]
#: (the node, its API token) -> the local API server
ApiFactory = Callable[[NodeAPI, str], ApiServer]
