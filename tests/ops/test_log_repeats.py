"""Repeated problems give a bounded number of log lines (issue 20: 1,200+ WARNING lines during a flood;
a mistyped console token logged the same line at every retry).

A real ``meshpos node``; anyone on the LAN knocks on its mesh port from ever new source ports: plain TCP
that is no TLS, and TLS without a client certificate. Every refusal is counted (``meshpos_refusals_total``
by reason, ``/metrics``), and the log says each kind once per peer address and then how many more there
were: the count lines add up to the flood, so nothing is hidden, only not repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from pathlib import Path

import pytest

from meshpos.harness.wait import wait_for

from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue
from .scrape import scrape

FLOOD = 200  # connections of each kind
AT_ONCE = (
    20  # open at a time (all at once, some time out in the handshake: another cause, same test)
)
WAIT = 10.0  # a guard against hangs, never a synchronisation delay
MORE = re.compile(r"\((\d+) more like this in the last \d+ s\)")
PORT = re.compile(r"(\d+\.\d+\.\d+\.\d+):\d+")
STAMP = re.compile(r"^\S+ \S+ ")  # the time at the start of a text line


async def knock(host: str, port: int, tls: bool) -> None:
    """One refused connection: TLS without a client certificate, or bytes that are no TLS."""
    context = None
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(OSError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError):
        async with asyncio.timeout(WAIT):
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
            try:
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                await writer.drain()
                await reader.read()  # until the node hangs up
            finally:
                writer.close()


async def flood(host: str, port: int) -> None:
    at_once = asyncio.Semaphore(AT_ONCE)

    async def one(tls: bool) -> None:
        async with at_once:
            await knock(host, port, tls)

    for tls in (False, True):
        await asyncio.gather(*(one(tls) for _ in range(FLOOD)))


def refused(node: NodeProcess) -> float:
    return sum(scrape(node.client).labelled("meshpos_refusals_total").values())


@pytest.mark.slow
def test_a_flood_of_refused_connections_gives_a_bounded_number_of_log_lines(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    config = make_device(authority, tmp_path, "R1", host="127.0.0.1")
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
    try:
        asyncio.run(flood("127.0.0.1", node.port))
        wait_for(lambda: refused(node) == 2 * FLOOD, WAIT, "every knock counted as refused")
    finally:
        node.stop()  # a clean stop says what was held back
    lines = [line for line in node.log.read_text().splitlines() if "refused" in line]
    print(f"\n{2 * FLOOD} refused connections, {len(lines)} log lines:\n" + "\n".join(lines))
    first = [line for line in lines if not MORE.search(line)]
    counted = sum(int(m.group(1)) for line in lines if (m := MORE.search(line)))
    # each distinct problem from this one address once (whatever its source port), then one count
    problems = {PORT.sub(r"\1", STAMP.sub("", line)) for line in first}
    assert len(problems) == len(first), first
    assert len(lines) <= 2 * len(first)
    assert len(first) + counted == 2 * FLOOD  # the counts add up: nothing hidden


@pytest.mark.slow
def test_a_mistyped_console_token_is_one_line_then_a_count(tmp_path: Path) -> None:
    """The relay gives up at every refused probe and tries again (2, 4, 8 ... s): one line, then the
    count of the tries after it, which the node's counter agrees with."""
    authority = make_venue(tmp_path)
    console = ConsoleProcess(tmp_path, [authority.directory]).start()
    config = make_device(
        authority,
        tmp_path,
        "R1",
        console_url=str(console.ready["console"]),
        console_token="mistyped-" + authority.console_token[9:],
    )
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()

    def give_ups() -> float:
        found = scrape(node.client).get_one("meshpos_events_total", event="console_give_ups")
        return found or 0

    try:
        wait_for(lambda: give_ups() >= 3, 4 * WAIT, "the relay to try the token three times")
    finally:
        node.stop()
        console.stop()
    tries = give_ups_logged = 0
    lines = [line for line in node.log.read_text().splitlines() if "wrong venue token" in line]
    print("\n" + "\n".join(lines))
    for line in lines:
        if "keeping off the relay role" in line:
            more = MORE.search(line)
            give_ups_logged += 1 + (int(more.group(1)) if more else 0)
            tries += 1
    assert tries <= 2  # the first try, then one count line at the stop
    assert give_ups_logged >= 3  # every try is in the log's count
    assert len(lines) <= 2 * len({STAMP.sub("", MORE.sub("", line)) for line in lines})
