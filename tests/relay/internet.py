"""``InternetSwitch`` on its own event loop in a thread, for synchronous tests with real processes."""

from __future__ import annotations

import asyncio
import threading

from meshpos.demo.internet import InternetSwitch


class InternetLink:
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
