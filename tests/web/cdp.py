"""Debian's Chromium, headless, driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``).

Why a pipe: no debugging port is opened at all, no WebDriver binary is needed and nothing is downloaded.
Chromium reads NUL-terminated JSON commands on fd 3 and writes replies and events on fd 4. Clicks are real
input events at the element's centre, so an element covered by a dialog cannot be clicked by accident.
Every screenshot also checks that a person can read what the page shows (``unreadable``: each visible
text's contrast on the background behind it): the tests read text with innerText, which found every
error notice's words while the page drew them red on red.

Chromium may only talk to 127.0.0.1 (and 127.0.0.2, or a loopback address a test names in ``launch``):
every host name fails to resolve except the loopback ones and every other connection is sent to a proxy
address where nothing listens. Checked with ``strace -f -yy``
over both browser tests: every TCP connect went to 127.0.0.1 and no data was sent on any other socket.
The only other calls were UDP ``connect()``s to 2001:4860:4860::8888:443, Chromium's IPv6 reachability
probe, which sends no packets.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import ipaddress
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
CHROMIUM = os.environ.get("MESHPOS_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--metrics-recording-only",
    "--mute-audio",
    # two pages side by side must both stay live: no throttling of pages that are not in front
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--proxy-server=http://127.0.0.1:9",  # loopback is never proxied; anything else goes nowhere
    "--window-size=1360,900",
    "--remote-debugging-pipe",
]
# 127.0.0.2: a console bound to an address of the machine other than 127.0.0.1 (still loopback)
REACHABLE = ("localhost", "127.0.0.1", "127.0.0.2")


TRAMPOLINE = """
import os, sys
r, w = int(sys.argv[1]), int(sys.argv[2])
os.dup2(r, 3)
os.dup2(w, 4)
os.close(r)
os.close(w)
os.execv(sys.argv[3], sys.argv[3:])
"""


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if shutil.which(CHROMIUM) is None:
        return f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium; CI's .ci/run does)"
    return None


class CdpError(AssertionError):
    pass


class Browser:
    """One Chromium process with a fresh profile."""

    def __init__(
        self, proc: asyncio.subprocess.Process, reader: asyncio.StreamReader, out: int
    ) -> None:
        self.proc = proc
        self._reader = reader
        self._out = out
        self._next = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: dict[str, list[Callable[[str, dict[str, Any]], None]]] = {}
        self.pages: list[Page] = []
        self._pump = asyncio.create_task(self._read_forever())

    @classmethod
    async def launch(
        cls, profile: Path, reachable: Sequence[str] = (), flags: Sequence[str] = ()
    ) -> Browser:
        """``reachable``: more loopback addresses the pages may open (127.0.0.0/8 only); ``flags``:
        more Chromium switches (e.g. trusting one test certificate's key)."""
        for address in reachable:
            assert ipaddress.ip_address(address) in LOOPBACK, f"{address}: not a loopback address"
        hosts = ", ".join(f"EXCLUDE {h}" for h in (*REACHABLE, *reachable))
        await asyncio.to_thread(profile.mkdir, parents=True, exist_ok=True)
        commands_r, commands_w = os.pipe()
        events_r, events_w = os.pipe()
        # Chromium wants fds 3 and 4. Move our ends above them first so the renumbering in the child
        # cannot clobber one with the other, then let a tiny trampoline place them and exec Chromium.
        high_r = fcntl.fcntl(commands_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_w = fcntl.fcntl(events_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(commands_r)
        os.close(events_w)
        with (profile / "chromium.log").open("w") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                TRAMPOLINE,
                str(high_r),
                str(high_w),
                CHROMIUM,
                *FLAGS,
                *flags,
                f"--host-resolver-rules=MAP * ~NOTFOUND, {hosts}",
                f"--user-data-dir={profile}",
                "about:blank",
                pass_fds=(high_r, high_w),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        os.close(high_r)
        os.close(high_w)
        reader = asyncio.StreamReader(limit=64 * 2**20)  # screenshots arrive as one message
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(events_r, "rb", 0)
        )
        os.set_blocking(commands_w, True)
        browser = cls(proc, reader, commands_w)
        await browser.send("Browser.getVersion", timeout=30)
        return browser

    async def _read_forever(self) -> None:
        while True:
            try:
                raw = await self._reader.readuntil(b"\0")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                break
            message = json.loads(raw[:-1])
            if "id" in message:
                future = self._waiting.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
            else:
                for listener in self._listeners.get(message.get("method", ""), []):
                    listener(message.get("sessionId", ""), message.get("params", {}))
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(CdpError("Chromium closed the DevTools pipe"))

    def on(self, method: str, listener: Callable[[str, dict[str, Any]], None]) -> None:
        self._listeners.setdefault(method, []).append(listener)

    async def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str = "",
        timeout: float = 10,
    ) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = future
        os.write(self._out, json.dumps(message).encode() + b"\0")
        reply = await asyncio.wait_for(future, timeout)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def new_page(self, name: str) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank", "newWindow": True})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"], name)
        self.pages.append(page)
        for domain in ("Page", "Runtime", "Network"):
            await page.send(f"{domain}.enable")
        return page

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.send("Browser.close", timeout=5)
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump
        os.close(self._out)


class Page:
    """One tab. ``errors`` collects uncaught exceptions and console.error calls of its scripts."""

    def __init__(self, browser: Browser, session: str, name: str) -> None:
        self.browser = browser
        self.session = session
        self.name = name
        self.errors: list[str] = []
        self.network: list[str] = []  # the last requests and their fates, for failure reports
        # in the order Chromium saw them: ("request", "GET /api/orders") and ("push", event data)
        self.traffic: list[tuple[str, str]] = []
        browser.on("Runtime.exceptionThrown", self._exception)
        browser.on("Runtime.consoleAPICalled", self._console)
        for event in ("requestWillBeSent", "responseReceived", "loadingFailed"):
            browser.on(f"Network.{event}", self._network)
        browser.on("Network.eventSourceMessageReceived", self._pushed)

    def _network(self, session: str, params: dict[str, Any]) -> None:
        if session != self.session:
            return
        at = f"{time.monotonic():.3f} {params.get('requestId')}"
        if "request" in params:
            line = f"{at} -> {params['request']['method']} {params['request']['url']}"
            path = urlsplit(params["request"]["url"]).path
            self.traffic.append(("request", f"{params['request']['method']} {path}"))
        elif "response" in params:
            line = f"{at} <- {params['response']['status']}"
        else:
            line = f"{at} !! {params.get('errorText')} canceled={params.get('canceled')}"
        self.network = [*self.network[-80:], line]

    def _pushed(self, session: str, params: dict[str, Any]) -> None:
        """A server-sent event the page received (DevTools reports each one)."""
        if session == self.session and params.get("eventName") == "changed":
            self.traffic.append(("push", str(params.get("data"))))
            self.network = [*self.network[-80:], f"{time.monotonic():.3f} <= {params.get('data')}"]

    def _exception(self, session: str, params: dict[str, Any]) -> None:
        if session == self.session:
            details = params.get("exceptionDetails", {})
            self.errors.append(str(details.get("exception", {}).get("description") or details))

    def _console(self, session: str, params: dict[str, Any]) -> None:
        if session == self.session and params.get("type") == "error":
            self.errors.append(" ".join(str(a.get("value", a)) for a in params.get("args", [])))

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.browser.send(method, params, self.session)

    async def goto(self, url: str) -> None:
        navigated = await self.send("Page.navigate", {"url": url})
        if navigated.get("errorText"):
            raise CdpError(f"{self.name}: cannot open {url}: {navigated['errorText']}")
        await self.wait(
            "document.readyState === 'complete' && location.href !== 'about:blank'", what="load"
        )

    async def eval(self, expression: str) -> Any:
        reply = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in reply:
            raise CdpError(f"{self.name}: {expression!r} threw {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def wait(self, expression: str, timeout: float = 5.0, what: str = "") -> Any:
        """Poll the page until ``expression`` is truthy; its value. No fixed sleeps: a deadline."""
        deadline = time.monotonic() + timeout
        probe = f"(v => v instanceof Node ? true : v)({expression})"  # an element comes back as {}
        while True:
            value = await self.eval(probe)
            if value:
                return value
            if time.monotonic() > deadline:
                raise CdpError(
                    f"{self.name}: timed out after {timeout} s waiting for {what or expression}"
                )
            await asyncio.sleep(0.03)

    async def text(self, selector: str) -> str:
        return str(
            await self.eval(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''")
        )

    async def unreadable(self, least: float = 3.0) -> list[str]:
        """Every visible text on the page whose colour on the background behind it (the nearest
        ancestor's opaque one; white at the top) has a WCAG contrast ratio under ``least``, as
        "text (ratio)": what a person cannot read whatever the tests find in innerText. Disabled
        controls are left out (greyed on purpose)."""
        found = await self.eval(
            f"""(() => {{
              const rgb = (c) => (c.match(/[0-9.]+/g) || []).map(Number);
              const lum = ([r, g, b]) => [r, g, b].map((c) => c / 255)
                .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
                .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
              const behind = (el) => {{
                for (let at = el; at; at = at.parentElement) {{
                  const c = rgb(getComputedStyle(at).backgroundColor);
                  if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
                }}
                return [255, 255, 255];
              }};
              const out = [];
              for (const el of document.querySelectorAll("body *")) {{
                const own = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.data).join("").trim();
                if (!own || el.closest(":disabled, [hidden]") || !el.checkVisibility()) continue;
                const r = el.getBoundingClientRect();
                if (!r.width || !r.height) continue;
                const a = lum(rgb(getComputedStyle(el).color).slice(0, 3)), b = lum(behind(el));
                const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
                if (ratio < {least}) out.push(`${{own.slice(0, 40)}} (${{ratio.toFixed(2)}})`);
              }}
              return out;
            }})()"""
        )
        return list(found)

    async def click(self, selector: str, timeout: float = 5.0) -> None:
        """A real mouse click at the centre of the first visible, enabled match."""
        sel = json.dumps(selector)
        box = await self.wait(
            f"""(() => {{
              const el = document.querySelector({sel});
              if (!el || el.disabled) return null;
              el.scrollIntoView({{block: "center", inline: "center"}});
              const r = el.getBoundingClientRect();
              if (!r.width || !r.height) return null;
              const x = r.left + r.width / 2, y = r.top + r.height / 2;
              const top = document.elementFromPoint(x, y);
              return top && (top === el || el.contains(top)) ? {{x, y}} : null;
            }})()""",
            timeout,
            f"{selector} to be clickable",
        )
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
            )

    async def fill(self, selector: str, text: str) -> None:
        """Replace an input's value by typing, as a person would after selecting what is there."""
        await self.click(selector)
        await self.eval(f"document.querySelector({json.dumps(selector)}).select()")
        await self.send("Input.insertText", {"text": text})

    async def screenshot(self, path: Path) -> Path:
        await self.send("Page.bringToFront")
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
        print(f"screenshot: {path}")
        unreadable = await self.unreadable()
        if unreadable:
            raise CdpError(f"{self.name}: text a person cannot read in {path.name}: {unreadable}")
        return path
