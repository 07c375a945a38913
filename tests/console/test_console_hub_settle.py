"""A hub's settle is bounded when its caller asks (issue 18, notices): the console fixture's teardown
(tests/relay/consoles.py) waited without end on a stuck write and said nothing until the test's 360 s
bound. And its wait is only a wait: cancelling or bounding it leaves the work running.

The stuck work is a stand-in task (a unit test of the hub: the materialiser and the writes it awaits
are tasks of its own); the hub and its database are real.
"""

from __future__ import annotations

import asyncio

import pytest

from meshpos.console.hub import Unsettled, VenueHub

from .conftest import VENUE
from .test_console_hub import hub as hub  # (the fixture)


async def _stuck() -> None:
    await asyncio.Event().wait()


async def test_a_bounded_settle_names_what_did_not_settle_and_leaves_it_running(
    hub: VenueHub,
) -> None:
    write = asyncio.create_task(_stuck())
    hub._writing.add(write)
    try:
        with pytest.raises(Unsettled, match=rf"venue {VENUE}: .* within 0.05 s: 1 write\(s\)"):
            await hub.settle(within=0.05)
        assert not write.done()  # (the bound ended the wait, not the write)
    finally:
        write.cancel()
        hub._writing.discard(write)
    await hub.settle(within=1.0)  # nothing left: at once


async def test_a_cancelled_settle_leaves_the_materialiser_running(hub: VenueHub) -> None:
    materialiser = asyncio.create_task(_stuck())
    hub._materialiser = materialiser
    waiter = asyncio.create_task(hub.settle())
    await asyncio.sleep(0)  # (it waits on the materialiser now)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not materialiser.cancelled()
    materialiser.cancel()
