"""The venue's internet, standing in for the uplink in the demo, benchmarks and tests (the chaos run
pulls a real cable in its network bed instead).

A TCP forwarder on loopback between the registers and the console: ``cut()`` drops every open
connection and refuses new ones (what registers see when the router's uplink dies); ``restore()`` lets
connections through again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class InternetSwitch:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0
        self.up = True
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def cut(self) -> None:
        self.up = False
        for writer in list(self._writers):
            writer.transport.abort()

    def restore(self) -> None:
        self.up = True

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}
            for w in (writer, up_writer):
                w.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


class InternetLink:
    """An :class:`InternetSwitch` on its own event loop in a thread, for blocking code (tests that drive
    node processes from the test's thread)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.switch = InternetSwitch(target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.switch.port

    def start(self) -> InternetLink:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.switch.start(), self._loop).result(5)
        return self

    def cut(self) -> None:
        self._loop.call_soon_threadsafe(self.switch.cut)

    def restore(self) -> None:
        self._loop.call_soon_threadsafe(self.switch.restore)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.switch.stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
