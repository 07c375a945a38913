"""Bad input to the console: wrong token, another venue's token or documents, malformed and oversized
messages. Each is refused with a reason, counted, and stores nothing."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from meshpos.console.db import ConsoleDB
from meshpos.console.runner import server_ssl_context
from meshpos.console.server import MAX_MESSAGE_SIZE, ConsoleServer
from meshpos.errors import StoreError
from meshpos.harness.tls import console_tls
from meshpos.harness.wait import until
from meshpos.net.port import LinkPeer, PeerKind, Send
from meshpos.relay import ConsoleLink, Probe, probe_console
from meshpos.sync import FEATURES_HEADER, Hello, SyncUpdate, encode
from meshpos.trust import VenueAuthority, init_venue

from .consoles import running_console


@dataclass
class Console:
    server: ConsoleServer
    db: ConsoleDB
    a: VenueAuthority
    b: VenueAuthority

    def url(self, venue: str) -> str:
        return f"ws://127.0.0.1:{self.server.port}/v1/venues/{venue}/sync"


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    a = init_venue(tmp_path / "a", "Venue A")
    b = init_venue(tmp_path / "b", "Venue B")
    async with running_console(tmp_path, [a.directory, b.directory]) as running:
        yield Console(running.server, running.db, a, b)


def ledger_update() -> bytes:
    doc: Doc[Map[Any]] = Doc()
    doc.get("receipts", type=Map)["x"] = "forged"
    return doc.get_update()


async def nothing_stored(c: Console) -> None:
    for venue in (c.a.venue_id, c.b.venue_id):
        assert await c.db.documents(venue) == []


async def test_wrong_or_missing_token_is_refused_before_the_upgrade(console: Console) -> None:
    for headers, status in [({"Authorization": "Bearer nope"}, 401), ({}, 401)]:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                console.url(console.a.venue_id), additional_headers=headers, proxy=None
            ):
                pass
        assert refused.value.response.status_code == status
    assert console.server.refusals["token"] == 2
    assert any("wrong venue token" in line for line in console.server.recent_refusals)
    await nothing_stored(console)


async def test_a_token_of_another_venue_is_refused(console: Console) -> None:
    headers = {"Authorization": f"Bearer {console.a.console_token}"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(console.url(console.b.venue_id), additional_headers=headers, proxy=None):
            pass
    assert refused.value.response.status_code == 403
    assert console.server.refusals["venue"] == 1
    await nothing_stored(console)


async def hello_then(console: Console, venue_in_hello: str, *messages: bytes) -> str:
    """Connect as venue A's relay, say hello (claiming ``venue_in_hello``), send ``messages``;
    returns why the console closed the connection."""
    headers = {"Authorization": f"Bearer {console.a.console_token}"}
    async with connect(
        console.url(console.a.venue_id),
        additional_headers=headers,
        proxy=None,
        max_size=None,
        ping_interval=None,
    ) as ws:
        await ws.send(encode(Hello(venue_in_hello, "R1", "register", "test", 12345)))
        for message in messages:
            await ws.send(message)
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            return f"{closed.rcvd.code if closed.rcvd else ''} {closed.rcvd.reason if closed.rcvd else ''}"


async def test_documents_of_another_venue_are_refused(console: Console) -> None:
    update = encode(SyncUpdate("ledger/2025-11-25", ledger_update()))
    reason = await hello_then(console, console.b.venue_id, update)
    hub = console.server.hubs[console.a.venue_id]
    assert hub.counters["rejected"] >= 1
    assert any("venue" in line for line in hub.rejections), hub.rejections
    print(f"\nclosed: {reason!r}; refused: {hub.rejections[-1]}")
    await nothing_stored(console)


async def test_malformed_messages_are_refused(console: Console) -> None:
    reason = await hello_then(console, console.a.venue_id, b"\xff\x00garbage")
    hub = console.server.hubs[console.a.venue_id]
    assert hub.counters["rejected"] >= 1
    print(f"\nclosed: {reason!r}; refused: {hub.rejections[-1]}")
    await nothing_stored(console)


async def test_oversized_messages_are_refused(console: Console) -> None:
    huge = b"\x00" * (MAX_MESSAGE_SIZE + 8192)
    reason = await hello_then(console, console.a.venue_id, huge)
    assert reason.startswith("1009"), reason  # message too big
    await nothing_stored(console)


class Refusals:
    """A relay's handler that only records what the console refused (the link is never opened)."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def link_opened(self, key: str, peer: LinkPeer, send: Send) -> None:
        raise AssertionError("the console let a refused relay in")

    async def link_messages(self, key: str, messages: list[bytes]) -> None:
        raise AssertionError("data on a refused link")

    async def link_closed(self, key: str, reason: str) -> None:
        raise AssertionError("a refused link closed")

    def link_refused(self, peer: LinkPeer, reason: str) -> None:
        assert peer.kind is PeerKind.CONSOLE
        self.reasons.append(reason)


async def test_the_relay_probe_and_link_learn_the_consoles_reason_for_refusing_a_token(
    console: Console,
) -> None:
    """What every register will show ("the console refused R3: wrong venue token") is the console's own
    reason, learnt by the probe before any claim and by the link if it is refused anyway."""
    base = f"ws://127.0.0.1:{console.server.port}"
    a, b = console.a, console.b
    good = await probe_console(base, venue_id=a.venue_id, token=a.console_token)
    assert good == Probe(True, skew_s=good.skew_s)
    assert good.skew_s is not None  # every answer's Date is read (one clock here: about 0)
    assert abs(good.skew_s) < 2
    wrong = await probe_console(base, venue_id=a.venue_id, token=a.console_token[:-1] + "#")
    assert wrong == Probe(False, "wrong venue token", skew_s=wrong.skew_s)
    other = await probe_console(base, venue_id=b.venue_id, token=a.console_token)
    reason = f"the token is for venue {a.venue_id}, not {b.venue_id}"
    assert other == Probe(False, reason, skew_s=other.skew_s)
    missing = await probe_console(base, venue_id=a.venue_id, token="")
    assert missing == Probe(False, "missing venue token", skew_s=missing.skew_s)

    handler = Refusals()
    link = ConsoleLink(
        url=base,
        token=a.console_token[:-1] + "#",
        venue_id=a.venue_id,
        handler=handler,
        max_size=MAX_MESSAGE_SIZE,
        rng=random.Random(),
        backoff_min=0.01,
    )
    task = asyncio.create_task(link.run())
    try:
        await until(lambda: bool(handler.reasons), 10, "the link is refused")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert handler.reasons[0] == "wrong venue token"
    await nothing_stored(console)


STEPS = 120  # loop steps a dial and its refusal take, and more (a dial takes about 10 to 30)


@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_a_relay_link_stopped_at_any_step_of_its_dial_ends(
    tmp_path: Path, scheme: str
) -> None:
    """The node stops its console link (``task.cancel()``) when it stops being the relay, whatever step
    of a dial the link is at, and waits for it to end. On Python 3.11 ``asyncio.wait_for`` returns the
    result instead when the cancel comes as what it waits for completes (the TCP connect, TLS, the
    upgrade's answer): the link redialled for ever, its stopper waited for ever (the test above hung
    so on 2026-12-07, once in many runs; with this loop 15 of 120 step counts hung). Cancelled after
    each number of loop steps in turn, every link ends at once, on plain and TLS websockets."""
    a = init_venue(tmp_path / "a", "Venue A")
    tls = console_tls(tmp_path) if scheme == "wss" else None
    context = server_ssl_context(tls.cert, tls.key) if tls is not None else None
    async with running_console(tmp_path, [a.directory], context) as console:
        for steps in range(STEPS):
            handler = Refusals()
            link = ConsoleLink(
                url=f"{scheme}://127.0.0.1:{console.port}",
                token=a.console_token[:-1] + "#",
                venue_id=a.venue_id,
                handler=handler,
                max_size=MAX_MESSAGE_SIZE,
                rng=random.Random(steps),
                backoff_min=0,  # redials at once: every step of a dial is met
                backoff_max=0,
                ca_file=tls.ca if tls is not None else None,
            )
            task = asyncio.create_task(link.run())
            for _ in range(steps):
                await asyncio.sleep(0)  # one loop step (no time passes)
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=2)
            if not done:
                while not task.done():  # (the next cancel may be lost again)
                    task.cancel()
                    await asyncio.wait([task], timeout=0.1)
            assert done, f"the link cancelled after {steps} loop steps still ran 2 s later"
            assert task.cancelled(), task  # (not ended by an error)
            assert set(handler.reasons) <= {"wrong venue token"}


async def test_refusals_are_all_counted_and_logged_once_per_address_and_reason(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    """A misconfigured relay probes again and again (and anyone can knock): one log line, every one
    counted."""
    base = f"ws://127.0.0.1:{console.server.port}"
    wrong = console.a.console_token[:-1] + "#"
    tries = 5
    for _ in range(tries):
        probe = await probe_console(base, venue_id=console.a.venue_id, token=wrong)
        assert probe.refused == "wrong venue token"
    assert console.server.refusals["token"] == tries
    logged = [r for r in caplog.records if r.name == "meshpos.console"]
    assert len(logged) == 1
    assert "wrong venue token" in logged[0].getMessage()
    said = [r for r in caplog.records if r.name == "meshpos.relay"]
    assert len(said) == 1  # and the relay says it once too


async def test_a_token_the_console_cannot_check_is_answered_503_with_why(
    console: Console, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Its database failing, the console says so (503 and a reason) instead of refusing a good token
    or dropping the connection; the relay's probe is not ok, so it retries, and carries the reason
    (outside2: every register shows the console's own problem)."""

    async def broken(token: str) -> str | None:
        raise StoreError("database is locked")

    monkeypatch.setattr(console.db, "venue_for_token", broken)
    headers = {"Authorization": f"Bearer {console.a.console_token}"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(console.url(console.a.venue_id), additional_headers=headers, proxy=None):
            pass
    assert refused.value.response.status_code == 503
    assert b"cannot check tokens" in refused.value.response.body
    assert any("database is locked" in r.getMessage() for r in caplog.records)
    base = f"ws://127.0.0.1:{console.server.port}"
    probe = await probe_console(base, venue_id=console.a.venue_id, token=console.a.console_token)
    words = "the console cannot check tokens now: its database cannot be read"
    assert probe == Probe(False, skew_s=probe.skew_s, unavailable=words)
    await nothing_stored(console)


async def test_a_malformed_features_header_is_refused_once_and_a_bad_token_stays_a_token_refusal(
    console: Console,
) -> None:
    """The features header (sync/_features.py) of an upgrade the token lets through is checked too:
    400 naming the header, counted once; with a wrong token it stays the token's refusal (401)."""
    bad = {FEATURES_HEADER: "features1,,Nope"}
    for token, status, kind in [
        (console.a.console_token, 400, "websocket"),
        ("nope", 401, "token"),
    ]:
        headers = {"Authorization": f"Bearer {token}", **bad}
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                console.url(console.a.venue_id), additional_headers=headers, proxy=None
            ):
                pass
        assert refused.value.response.status_code == status
        assert console.server.refusals[kind] == 1
    assert sum(console.server.refusals.values()) == 2
    assert any(FEATURES_HEADER in line for line in console.server.recent_refusals)
    await nothing_stored(console)
