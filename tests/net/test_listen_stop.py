"""A listener's client task cancelled while it serves (its node stopping with a handshake under way)
ends quietly: Python 3.11's stream server asked the ended task for its exception, and a cancelled one
was logged as an error with a traceback ("Exception in callback StreamReaderProtocol.connection_made
...callback", seen when a node stopped in the 50-device bench). ``net/wsconn.listen``."""

from __future__ import annotations

import asyncio
from typing import Any

from meshpos.net.wsconn import listen


async def test_a_client_task_cancelled_at_stop_logs_no_error() -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    serving: list[asyncio.Task[Any]] = []
    started = asyncio.Event()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        serving.append(task)
        started.set()
        await asyncio.Event().wait()  # a handshake that never ends

    server = await listen(on_client, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.wait_for(started.wait(), 5)
        (task,) = serving
        task.cancel()  # what Links.stop does to a handshake under way
        await asyncio.gather(task, return_exceptions=True)
        for _ in range(3):  # the task's done callbacks run on the next turns of the loop
            await asyncio.sleep(0)
        assert errors == []
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
        loop.set_exception_handler(None)
