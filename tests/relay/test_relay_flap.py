"""The console link when the relay election flaps: a node that loses the relay role and wins it back
while its old console link is still closing must not start a second one beside it.

Found by part hop (fourteenth session) under load: ``RelayService.manage`` started a new console link
while ``_stop_relaying`` was still closing the old one, and both took the session key ``console#1``: the
new link failed "session 'console#1' already exists". The uplink here is a stand-in (this is the
service's own bookkeeping); the real link's session table refuses a second key the same way.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from meshpos.config import Config
from meshpos.net.port import LinkHandler
from meshpos.relay.service import RelayService

KEY = "console#1"


class Sessions:
    """The keys of live console links, refusing a second one as the synchronizer's table does."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.started = 0
        self.second = asyncio.Event()


class Uplink:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions
        self.sending = False
        self.unavailable = ""  # (the console never answered 503 here)

    async def run(self) -> None:
        if KEY in self._sessions.keys:
            raise AssertionError(f"session {KEY!r} already exists")
        self._sessions.keys.add(KEY)
        self._sessions.started += 1
        if self._sessions.started == 2:
            self._sessions.second.set()
        try:
            await asyncio.Future()
        finally:
            await asyncio.sleep(0)  # a link's close takes a round or more
            self._sessions.keys.discard(KEY)


async def test_the_relay_role_won_back_while_the_old_link_closes_starts_one_link_after_it() -> None:
    sessions = Sessions()
    sync = SimpleNamespace(is_relay=True, set_console_live=lambda live: None)
    engine: Any = SimpleNamespace(
        sync=sync,
        closing=False,
        close_link=lambda key, reason: None,
        subscribe=lambda handler, *kinds: None,
        pending_total=lambda: 0,
    )
    config = Config(
        node_id="R1", venue_id="v1", console_url="wss://127.0.0.1:9/", console_token="t0"
    )

    def factory(venue: str, handler: LinkHandler, proof: Mapping[str, str]) -> Uplink:
        return Uplink(sessions)

    service = RelayService(engine, config, "v1", Counter(), factory)
    service.uplink_ok = True
    service._console_key = KEY  # the old link's session, as its LinkOpened event set it
    service.manage()
    await asyncio.sleep(0)  # the first link runs
    assert sessions.keys == {KEY}

    sync.is_relay = False
    service.manage()  # the old link starts closing
    sync.is_relay = True
    service.manage()  # won back before it is gone
    await asyncio.wait_for(sessions.second.wait(), 5)
    assert sessions.keys == {KEY}
    assert sessions.started == 2
    await service.stop()
    assert sessions.keys == set()
