"""Each link learns what the far end can take from its websocket upgrade (``X-Meshpos-Features``,
meshpos/sync/_features.py), on both ends (every kind of link hands them to the engine in
``LinkPeer.features``: test_link_contract.py); a far end that sends no header (an N−1 release) has
none; a malformed header is refused in HTTP, naming the header."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from meshpos.harness.venue import make_venue
from meshpos.harness.wait import until
from meshpos.net.port import LinkPeer
from meshpos.net.wsconn import LinkRefused, WsConnection, accept, dial, listen
from meshpos.sync import FEATURES, FEATURES_HEADER
from meshpos.trust import client_ssl_context, device_hostname

from ..engine.test_engine import VENUE, Recording, engine
from ..trust.helpers import issue_identity
from .test_link_contract import HOST, LIMIT, Recorder
from .test_links_backlog import mesh_links


async def _server(
    features: frozenset[str],
) -> tuple[asyncio.Server, asyncio.Queue[WsConnection | LinkRefused]]:
    accepted: asyncio.Queue[WsConnection | LinkRefused] = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            conn = await accept(reader, writer, None, max_size=LIMIT, features=features)
        except LinkRefused as exc:
            accepted.put_nowait(exc)
        else:
            accepted.put_nowait(conn)

    return await listen(on_client, HOST, 0), accepted


@pytest.mark.parametrize(
    ("client", "server"),
    [
        (FEATURES, FEATURES),
        (frozenset(), FEATURES),
        (FEATURES, frozenset()),
        (frozenset(), frozenset()),
    ],
    ids=["new-new", "old-client", "old-server", "old-old"],
)
async def test_each_end_learns_the_others_features_and_an_older_end_has_none(
    client: frozenset[str], server: frozenset[str]
) -> None:
    listener, accepted = await _server(server)
    try:
        port = listener.sockets[0].getsockname()[1]
        conn = await dial(HOST, port, None, server_hostname=HOST, max_size=LIMIT, features=client)
        far = await asyncio.wait_for(accepted.get(), 10)
        assert isinstance(far, WsConnection)
        assert conn.features == server
        assert far.features == client
        await conn.close()
        await far.close()
    finally:
        listener.close()


async def test_a_malformed_features_header_is_refused_in_http_naming_it() -> None:
    listener, accepted = await _server(FEATURES)
    try:
        port = listener.sockets[0].getsockname()[1]
        with pytest.raises(LinkRefused) as refused:
            await dial(
                HOST,
                port,
                None,
                server_hostname=HOST,
                max_size=LIMIT,
                headers={FEATURES_HEADER: "features1,,Bad"},
                features=frozenset(),
            )
        assert refused.value.status == 400
        assert FEATURES_HEADER in refused.value.body.decode()
        far = await asyncio.wait_for(accepted.get(), 10)
        assert isinstance(far, LinkRefused)
        assert FEATURES_HEADER in far.reason
    finally:
        listener.close()


async def test_a_mesh_peer_of_the_previous_release_is_linked_with_no_features(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    node, peer = issue_identity(authority, "R1"), issue_identity(authority, "R9")
    near = Recorder()
    links = mesh_links(authority, node, near)
    port = await links.start()
    try:
        conn = await dial(
            HOST,
            port,
            client_ssl_context(peer),
            server_hostname=device_hostname("R1", authority.venue_id),
            max_size=LIMIT,
            features=frozenset(),  # what 623a0ca sends: no header
        )
        assert conn.features == FEATURES  # it ignores ours
        await until(lambda: bool(near.peers), 10, "the link opened", on=[near])
        assert near.peers[near.key].features == frozenset()
        await conn.close()
    finally:
        await links.stop()


async def test_the_engine_gives_each_session_its_links_features() -> None:
    a = await engine("A", Recording([]))
    sends: list[bytes] = []
    a.link_opened("new#1", LinkPeer("B", "register", VENUE, features=FEATURES), sends.extend)
    a.link_opened("old#2", LinkPeer("C", "register", VENUE), sends.extend)
    assert a.sync.sessions["new#1"].peer_features == FEATURES
    assert a.sync.sessions["old#2"].peer_features == frozenset()
