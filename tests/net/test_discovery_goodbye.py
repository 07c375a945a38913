"""A goodbye is a train of packets, and a leaving node's late answer can arrive between them (CI of 6e86663
failed on it: a peer removed twice). The browser's events are fed to a real zeroconf Discovery on loopback
in the order the air delivered them; the peer itself is a real, live advertiser, so a resolve that is let
through succeeds at once: only the hold can make it wait (meshpos/net/discovery.py, module doc)."""

from __future__ import annotations

import asyncio

from zeroconf import ServiceStateChange

from meshpos.harness.wait import until
from meshpos.net.adverts import SERVICE_TYPE
from meshpos.net.discovery import GOODBYE_HOLD_S, Discovery
from tests.net.test_discovery import Harness, Node


def air(node: Node, name: str, change: ServiceStateChange) -> None:
    """What the browser tells ``node`` when a packet about ``name`` arrives."""
    discovery = node.d
    assert isinstance(discovery, Discovery)
    assert discovery._azc is not None
    discovery._on_service_state_change(discovery._azc.zeroconf, SERVICE_TYPE, name, change)


async def test_an_answer_heard_between_goodbyes_does_not_bring_the_peer_back() -> None:
    h = Harness("zeroconf")
    try:
        a, c = h.node(), h.node()
        await h.start(a, c)
        await until(lambda: a.sees(c), 10.0, "a finds c", on=[a, c])
        name = c.d._own
        loop = asyncio.get_running_loop()

        # goodbye, a late answer, the goodbye's next packet: one removal, and nothing found again
        air(a, name, ServiceStateChange.Removed)
        assert a.removed == [c.id]
        assert c.id not in a.d.peers
        air(a, name, ServiceStateChange.Added)
        air(a, name, ServiceStateChange.Removed)
        assert isinstance(a.d, Discovery)
        assert name.lower() not in a.d._resolving  # the late answer's resolve was dropped
        assert a.removed == [c.id]

        # a node that really comes back (no goodbye follows) is found, once the hold is over
        found_before = len(a.found)
        heard = loop.time()
        air(a, name, ServiceStateChange.Added)
        await until(lambda: a.sees(c), 10.0, "c found again", on=[a])
        waited = loop.time() - heard
        assert waited >= GOODBYE_HOLD_S * 0.9, f"found {waited:.3f} s after a goodbye"
        assert len(a.found) == found_before + 1
        assert a.removed == [c.id]

    finally:
        await h.close()
