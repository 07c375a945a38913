"""An advertised peer that no dial reached is dialled again on a growing interval, so it rejoins the
members once it answers, without being advertised anew.

With bounded links a node dials only the members its topology wants, and a node no dial reached is no
member: without the probe, the two sides of a healed partition each waited for discovery to advertise
the other again (mDNS re-announces about once a minute) before they linked.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from meshpos.harness.venue import make_venue
from meshpos.harness.wait import until
from meshpos.net.links import Links
from meshpos.trust import client_ssl_context, server_ssl_context

from ..trust.helpers import issue_identity
from .test_link_contract import HOST, Recorder
from .test_links_backlog import mesh_links

WAIT = 15.0


async def test_a_peer_found_nowhere_is_dialled_again_and_rejoins_once_it_answers(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    r1, r2 = issue_identity(authority, "R1"), issue_identity(authority, "R2")
    told: list[frozenset[str]] = [frozenset()]
    near, far = Recorder(), Recorder()
    links = mesh_links(authority, r1, near)
    # the topology's stand-in: R1 wants exactly the members its links tell it
    links.settings = replace(
        links.settings,
        wants=lambda node, features: node in told[-1],
        on_members=told.append,
        probe=0.2,
        probe_max=0.4,
    )
    first = mesh_links(authority, r2, far)
    r2_settings = replace(
        first.settings,
        node_id="R2",
        server_context=server_ssl_context(r2),
        client_context=client_ssl_context(r2),
    )
    gone = Links(r2_settings, far, first.rng)
    port = await gone.start()  # a port R2 had, then nothing there
    await gone.stop()
    await links.start()
    later = Links(replace(r2_settings, port=port), far, first.rng)
    try:
        links.peer_found("R2", HOST, port)
        await until(lambda: "R2" in told[-1], WAIT, "R2 advertised: a member", every=0.02)
        await until(lambda: "R2" not in told[-1], WAIT, "R2 found nowhere: no member", every=0.02)
        await later.start()  # R2 is back at the address it was advertised at; nothing advertises it
        await until(lambda: bool(links.connected), WAIT, "R1 linked with R2 again", on=[near])
        assert "R2" in told[-1]
        assert [peer.device_id for peer in near.peers.values()] == ["R2"]
    finally:
        await links.stop()
        await later.stop()
