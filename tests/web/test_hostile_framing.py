"""How a request's body is framed, and a server at its limit of connections: the handler never runs on a
body it did not get whole (a chunked body was read as none, and the request ran with its fields left
out), a newcomer to a full server pushes out the oldest slow one or gets a 503 naming why, never a wait,
and a request being handled or still within its grace is never cut short."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from meshpos.httpapi.server import HttpServer, Request, Response

from .kit import Answer, http


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.release = asyncio.Event()
        self.entered = asyncio.Queue[None]()
        self.hold = False

    async def __call__(self, request: Request) -> Response:
        self.bodies.append(request.body)
        if self.hold:
            self.entered.put_nowait(None)
            await self.release.wait()
        return Response.json({"ok": True})


@pytest.fixture
async def served() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    server = HttpServer(recorder, "127.0.0.1", 0, max_clients=2, grace=0.0)
    port = await server.start()
    try:
        yield recorder, f"http://127.0.0.1:{port}"
    finally:
        await server.stop()


async def _raw(base: str, data: bytes) -> Answer:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    top, _, payload = reply.partition(b"\r\n\r\n")
    return Answer(int(top.split()[1]), {}, payload)


BODY = b'{"user":"u1"}'


@pytest.mark.parametrize(
    ("head", "status", "says"),
    [
        (b"Transfer-Encoding: chunked\r\n", 411, "Content-Length"),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 13\r\n", 411, "Transfer-Encoding"),
        (b"Content-Length: 13\r\nContent-Length: 0\r\n", 400, "two different Content-Length"),
        (b"Content-Length: +13\r\n", 400, "'+13' is not a number"),
        (b"Content-Length: 1_3\r\n", 400, "'1_3' is not a number"),
        (b"Content-Length: 0x0d\r\n", 400, "is not a number"),
        (b"Content-Length: \xd9\xa1\xd9\xa3\r\n", 400, "is not a number"),  # Arabic-Indic 13
        (b"Content-Length: 99999999999999999999999999\r\n", 413, "request body over"),
    ],
)
async def test_a_body_not_framed_by_one_plain_content_length_is_refused_unread(
    served: tuple[Recorder, str], head: bytes, status: int, says: str
) -> None:
    recorder, base = served
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)
    answer = await _raw(base, b"POST /api/orders HTTP/1.1\r\n" + head + b"\r\n" + chunked)
    assert answer.status == status
    assert says in answer.json()["error"]["message"]
    assert recorder.bodies == []
    # the same request framed plainly is taken
    assert (await http(base, "POST", "/api/orders", raw=BODY)).status == 200
    assert recorder.bodies == [BODY]


async def test_a_server_whose_every_slot_is_handling_a_request_says_busy_and_cuts_none_short(
    served: tuple[Recorder, str],
) -> None:
    recorder, base = served
    recorder.hold = True
    held = [asyncio.ensure_future(http(base, "POST", "/api/x", raw=BODY)) for _ in range(2)]
    for _ in held:
        await recorder.entered.get()
    busy = await http(base, "GET", "/api/status")
    assert (busy.status, busy.code, busy.headers["retry-after"]) == (503, "busy", "1")
    recorder.release.set()
    assert [answer.status for answer in await asyncio.gather(*held)] == [200, 200]
    assert len(recorder.bodies) == 2  # the refused one never reached the handler


async def test_at_the_limit_a_newcomer_takes_the_place_of_the_oldest_slow_one(
    served: tuple[Recorder, str],
) -> None:
    recorder, base = served
    host, port = base.removeprefix("http://").split(":")
    slow = [await asyncio.open_connection(host, int(port)) for _ in range(2)]
    for _reader, writer in slow:
        writer.write(b"POST /api/x HTTP/1.1\r\n")  # headers never finished
    try:
        assert (await http(base, "POST", "/api/x", raw=BODY)).status == 200
        assert await asyncio.wait_for(slow[0][0].read(), 10) == b""  # the oldest went
        assert (await http(base, "POST", "/api/x", raw=BODY)).status == 200
        assert recorder.bodies == [BODY, BODY]
    finally:
        for _reader, writer in slow:
            writer.close()


async def test_at_the_limit_a_connection_within_its_grace_stays_and_the_newcomer_is_told_busy() -> (
    None
):
    """An honest burst: connections accepted faster than their requests are read must not push out
    their own first ones (a burst of 300 PIN guesses lost some that way): the newcomer gets 503."""
    recorder = Recorder()
    server = HttpServer(recorder, "127.0.0.1", 0, max_clients=2, grace=3600.0)
    port = await server.start()
    base = f"http://127.0.0.1:{port}"
    slow = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    try:
        for _reader, writer in slow:
            writer.write(b"POST /api/x HTTP/1.1\r\nContent-Length: 13\r\n\r\n")  # body to come
        busy = await http(base, "POST", "/api/x", raw=BODY)
        assert (busy.status, busy.code) == (503, "busy")
        for reader, writer in slow:
            writer.write(BODY)  # within its grace: still served
            assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 200 ")
        assert recorder.bodies == [BODY, BODY]
    finally:
        for _reader, writer in slow:
            writer.close()
        await server.stop()
