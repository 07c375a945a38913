"""The doctor's looks at the world: an HTTP answer and its clock, the venue's mDNS adverts, a lock's holder,
whether a data dir takes a commit.

None of them changes anything. A peer is asked over mutual TLS for a path it does not serve
(:data:`DOCTOR_PATH`): the handshake proves both certificates, and its ``404`` carries a ``Date`` header
(the websockets library dates every answer) without opening a mesh link that would replace the running
node's own link to that peer (net/links.py keeps one link per device).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import ssl
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from meshpos.digits import ascii_digits
from meshpos.doctor.report import Report
from meshpos.net.adverts import SERVICE_TYPE, PeerAd, classify, venue_hash
from meshpos.net.dates import date_skew, header_lines

DOCTOR_PATH = "/meshpos/doctor"  # no server serves it: answered 404, which is all the doctor asks
ANSWER_LIMIT = 4096  # bytes of an answer read: a status line, headers and a short reason


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """An HTTP answer, or why there was none (``status`` 0 and ``error``)."""

    status: int = 0
    body: str = ""
    skew_s: float | None = None  # the far end's clock minus ours, from its Date header
    error: str = ""


async def http_answer(
    host: str,
    port: int,
    path: str,
    *,
    context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 3.0,
) -> HttpAnswer:
    """``GET path`` once (TLS with ``context``), reading at most :data:`ANSWER_LIMIT` bytes."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"
    sent_at = time.time()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                host,
                port,
                ssl=context,
                server_hostname=server_hostname if context is not None else None,
            )
            try:
                writer.write(request.encode())
                await writer.drain()
                answer = b""
                while len(answer) < ANSWER_LIMIT and (
                    part := await reader.read(ANSWER_LIMIT - len(answer))
                ):
                    answer += part
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
    except ssl.SSLCertVerificationError as exc:
        return HttpAnswer(error=f"TLS: its certificate is refused ({exc.verify_message})")
    except ssl.SSLError as exc:
        return HttpAnswer(error=f"TLS: {exc.reason or exc}")
    except TimeoutError:
        return HttpAnswer(error=f"no answer within {timeout:g} s")
    except OSError as exc:
        return HttpAnswer(error=exc.strerror or str(exc) or type(exc).__name__)
    received_at = time.time()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    code = lines[0].split(" ")[1:2] if lines else []
    if not code or not ascii_digits(code[0]):
        if not answer:  # TLS 1.3: a refused client certificate shows as a closed connection
            return HttpAnswer(error="the connection was closed without an answer")
        return HttpAnswer(error="the answer is not HTTP")
    skew = date_skew(header_lines(head.decode("latin-1")), sent_at, received_at)
    text = body.decode("utf-8", "replace").strip().split("\n", 1)[0][:200]
    return HttpAnswer(int(code[0]), text, skew)


async def browse(
    interfaces: tuple[str, ...], venue_id: str, node_id: str, seconds: float, ca: str = ""
) -> tuple[dict[str, PeerAd], list[str]]:
    """The peers of ``venue_id`` mDNS shows on ``interfaces`` within ``seconds`` (not this node), and
    what else was heard there (other venues, other versions): browse only, advertising nothing, so a
    running node's own name is never contested."""
    venue = venue_hash(venue_id)
    names: set[str] = set()

    def heard(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is not ServiceStateChange.Removed:
            names.add(name)

    azc = AsyncZeroconf(interfaces=list(interfaces), ip_version=IPVersion.V4Only)
    found: dict[str, PeerAd] = {}
    others: list[str] = []
    try:
        browser = AsyncServiceBrowser(azc.zeroconf, SERVICE_TYPE, handlers=[heard])
        await asyncio.sleep(seconds)
        await browser.async_cancel()

        async def resolve(name: str) -> None:
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            if not await info.async_request(azc.zeroconf, seconds * 1000):
                others.append(f"{name.split('.')[0]}: no answer resolving it")
                return
            ad = classify(
                name,
                info.properties,
                info.parsed_addresses(IPVersion.V4Only),
                info.port,
                own_name="",  # this node is known by its node id: its name may be either (Discovery)
                venue=venue,
                ca=ca,  # same venue id, another CA: another venue (Discovery)
            )
            if isinstance(ad, PeerAd) and ad.node_id == node_id:
                return  # this node, under the name made from its CA
            if isinstance(ad, PeerAd):
                if ad.ca or not found.get(ad.node_id, ad).ca:  # with our CA beats without (N-1)
                    found[ad.node_id] = ad
            elif ad != "our own node":
                others.append(f"{name.split('.')[0]}: {ad}")

        await asyncio.gather(*(resolve(n) for n in sorted(names)))
    finally:
        await azc.async_close()
    return found, sorted(others)


def lock_holder(lock_file: Path) -> int | None:
    """The process holding ``flock`` on ``lock_file`` (from /proc/locks, which knows even a holder that
    did not write its pid, e.g. ``flock(1)``), else the pid written in the file if that process lives."""
    try:
        inode = lock_file.stat().st_ino
    except OSError:
        return None
    with contextlib.suppress(OSError):
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (blocked waiters carry a "->")
            if (
                len(fields) >= 6
                and fields[1] == "FLOCK"
                and "->" not in fields
                and fields[5].rsplit(":", 1)[-1] == str(inode)
                and ascii_digits(fields[4])
            ):
                return int(fields[4])
    return None


def process_name(pid: int) -> str:
    """A process's command line, cut short, for a message a person reads."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    words = raw.rstrip(b"\0").split(b"\0")
    return " ".join(w.decode("utf-8", "replace") for w in words)[:120] or "?"


def check_writable(report: Report, directory: Path) -> None:
    """What a commit needs, tried for real: create, write, sync and remove a file in ``directory``
    (a full disk or a read-only mount shows here, not in a permission bit)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".doctor-", dir=directory)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        report.problem(
            "data dir",
            f"{directory} is not writable: {exc.strerror}",
            "free disk space" if exc.errno == errno.ENOSPC else "fix its permissions or the disk",
        )
        return
    report.ok("data dir", f"{directory} is writable")
