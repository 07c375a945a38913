"""The real adapters a node runs on, picked for ``meshpos node`` (and for tests that run real nodes).

docs/architecture.md (Node). :class:`~meshpos.node.Node` is handed its adapters; :func:`make_node` hands it
the data dir's SQLite store, the mTLS websocket links, mDNS discovery (unless told not to), the local HTTP
API and the relay's console link.

**Changed** (the twenty-third session, part ``outside``): the local API with ``api_port = 0`` takes the
port of its last start again when it is free (``LocalApi``), so a register page left open keeps its
address across a restart.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping

from meshpos.config import Config
from meshpos.engine import MAX_MESSAGE_SIZE, Engine
from meshpos.errors import ConfigError, MissingDatabase
from meshpos.httpapi.server import HttpServer
from meshpos.net.adverts import PeerAd
from meshpos.net.discovery import Discovery
from meshpos.net.discovery_probe import issued_by_our_ca
from meshpos.net.link_settings import LinkSettings
from meshpos.net.links import Links
from meshpos.net.mesh import PeerDiscovery
from meshpos.net.port import LinkHandler, LinkPeer, PeerKind
from meshpos.net.yjs import YjsSettings
from meshpos.node import Node
from meshpos.relay import ConsoleLink
from meshpos.relay.service import ConsoleUplink
from meshpos.store import SqliteStore, Store
from meshpos.store.lock import lock_path
from meshpos.trust import (
    DeviceIdentity,
    client_ssl_context,
    device_hostname,
    peer_certificate_info,
    server_ssl_context,
    token_ssl_context,
)
from meshpos.trust._files import write_file
from meshpos.trust.certs import ca_fingerprint
from meshpos.trust.tls import venue_probe_context
from meshpos.web.api import make_handler

PROBE_TIMEOUT_S = 3.0  # a TLS handshake on the LAN
log = logging.getLogger("meshpos.node")

LINK_OVERHEAD = 4096  # what a websocket frame may add to the engine's largest message


def make_node(
    config: Config,
    *,
    discovery: bool = True,
    identity: DeviceIdentity | None = None,
    clock: Callable[[], float] = time.time,
    new_receipt_series: bool = False,
) -> Node:
    """A node on the real adapters; ``discovery=False``: peers only by address (``add_peer``)."""
    rng = random.Random()

    def links(
        identity: DeviceIdentity, handler: LinkHandler, is_revoked: Callable[[str], bool]
    ) -> Links:
        # the bounded topology: dial the synchronizer's neighbours (docs/architecture.md (Links))
        sync = handler.sync if isinstance(handler, Engine) else None
        return Links(
            LinkSettings(
                node_id=config.node_id,
                venue_id=identity.venue_id,
                host=config.listen_host,
                port=config.port,
                server_context=server_ssl_context(
                    identity, certificate_optional=bool(config.yjs_tokens)
                ),
                client_context=client_ssl_context(identity),
                identify=identify_peer,
                hostname_for=lambda device: device_hostname(device, identity.venue_id),
                is_revoked=is_revoked,
                max_message_size=MAX_MESSAGE_SIZE + LINK_OVERHEAD,
                wants=sync.wants_link if sync is not None else None,
                on_members=sync.set_members if sync is not None else None,
                yjs=YjsSettings(tokens=config.yjs_tokens),
                # browsers: token clients on a listener that asks for no certificate (net.yjs)
                token_context=token_ssl_context(identity) if config.yjs_tokens else None,
                yjs_port=config.yjs_port,
            ),
            handler,
            rng,
        )

    def mdns(
        venue_id: str,
        ca_pem: str,
        port: int,
        found: Callable[[str, str, int], None],
        removed: Callable[[str], None],
    ) -> PeerDiscovery:
        probe = venue_probe_context(ca_pem)  # an N-1 device holding our mDNS name: of our CA?
        return Discovery(
            venue_id=venue_id,
            ca=ca_fingerprint(ca_pem),
            node_id=config.node_id,
            role=config.role,
            port=port,
            interfaces=list(config.interfaces),
            address=config.interfaces[0] if config.listen_host == "0.0.0.0" else config.listen_host,
            on_found=lambda ad: _found(found, ad),
            on_removed=removed,
            same_venue=lambda host, port: issued_by_our_ca(probe, host, port, PROBE_TIMEOUT_S),
        )

    def console_link(
        venue_id: str, handler: LinkHandler, proof: Mapping[str, str]
    ) -> ConsoleUplink:
        return ConsoleLink(
            proof=proof,
            url=config.console_url,
            token=config.console_token,
            venue_id=venue_id,
            handler=handler,
            max_size=MAX_MESSAGE_SIZE + LINK_OVERHEAD,
            rng=rng,
            ca_file=config.console_ca_file,
        )

    return Node(
        config,
        store=open_node_store,
        links=links,
        api=lambda node, token: LocalApi(
            config,
            HttpServer(
                make_handler(node, token),
                config.api_host,
                config.api_port,
            ),
        ),
        discovery=mdns if discovery else None,
        console_link=console_link,
        identity=identity,
        clock=clock,
        new_receipt_series=new_receipt_series,
    )


class LocalApi:
    """The node's HTTP API, whose address is written to ``<data_dir>/api.url`` while it listens: that
    is how ``meshpos status`` and ``meshpos clear-cache`` find the running node (node_runner.api_base).

    With ``api_port = 0`` it listens on the port it had last (``<data_dir>/api.port``) when that is
    free: a register page left open in a browser (a kiosk tab) kept the address of the node's first
    start, and after a restart (a crash, a power cut) it said "does not answer" for ever on another
    port (outside, tenth round). A port another program took meanwhile gives a new one, logged."""

    def __init__(self, config: Config, server: HttpServer) -> None:
        self.server = server
        self.url_file = config.data_dir / "api.url"
        self.port_file = config.data_dir / "api.port"
        self._wanted = config.api_port  # (0: any free port, the last start's again when free)
        self.host = config.api_host

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> int:
        # (a configured api_port is kept: it was set to 0 here, and a node given a port listened on
        # another; found by tests/web/test_register_session_browser.py)
        last = self._last_port() if self._wanted == 0 else 0
        self.server.port = last or self._wanted
        try:
            port = await self.server.start()
        except OSError as exc:
            if not last:
                raise
            log.warning(
                "the local API's port %d is taken (%s): listening on another, so a register page "
                "open at the old address must be opened again at the one in %s",
                last,
                exc.strerror or exc,
                self.url_file,
            )
            self.server.port = 0
            port = await self.server.start()
        try:
            write_file(self.url_file, f"http://{self.host}:{port}\n")  # whole, or not there
            if self._wanted == 0 and last != port and self.port_file.parent.is_dir():
                write_file(self.port_file, f"{port}\n")
        except OSError as exc:
            raise ConfigError(
                f"{self.url_file}: cannot write the API address: {exc.strerror}"
            ) from None
        return port

    def _last_port(self) -> int:
        """The port of the last start (0: none, or a file that holds no port, said once)."""
        try:
            text = self.port_file.read_text(encoding="ascii", errors="replace").strip()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            log.warning(
                "%s: cannot read it (%s): the local API takes a new port", self.port_file, exc
            )
            return 0
        if text.isdigit() and 0 < int(text) <= 65535:
            return int(text)
        log.warning(
            "%s holds no port (%r): the local API takes a new port", self.port_file, text[:20]
        )
        return 0

    async def stop(self) -> None:
        await self.server.stop()
        with contextlib.suppress(OSError):
            self.url_file.unlink()


async def open_node_store(config: Config) -> Store:
    """Open (and lock) the data dir's database; refuse an empty one where a database existed.

    An empty ``node.db`` in place of a lost one used to start as an empty register saying "All data
    is synced" with none of its sales. A data dir that held a database shows it: ``api.token`` is
    written at every start after the database opened, and ``node.db.lock`` at every open. Then
    only ``meshpos node --init-database`` begins an empty database, and only where there is none.
    """
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"data_dir {str(config.data_dir)!r}: cannot use it: {exc.strerror}"
        ) from None
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


def identify_peer(der: bytes) -> LinkPeer:
    """Who a mesh peer is, as its certificate says (what Links hands the engine)."""
    info = peer_certificate_info(der)
    return LinkPeer(info.device_id, info.role, info.venue_id, PeerKind.MESH)


def _found(found: Callable[[str, str, int], None], ad: PeerAd) -> None:
    found(ad.node_id, ad.address, ad.port)
