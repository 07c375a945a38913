"""The relay's websocket to the console, and the probe that tells a register whether it has internet.

The link runs only while this node is the elected relay and its probe succeeds; the sync protocol on it is
the same as on the LAN (the console is one more peer). It is the mesh's own websocket stack
(:mod:`meshpos.net.wsconn`, :class:`~meshpos.net.channel.Channel`) telling the node's
:class:`~meshpos.net.port.LinkHandler` about a ``PeerKind.CONSOLE`` peer; it redials with jittered backoff,
and the node commits what arrives before it forwards it, exactly as for a LAN peer. A console that refuses
the venue's token (HTTP 401/403 with its reason, or a close with 1008) is reported with ``link_refused``.

**Changed** (outside, the twenty-first session): so is a console that answers the upgrade 503 with its
reason (it cannot take a relay now: its database on a full disk cannot check the relay's nonce). The relay
logged "HTTP 503" and kept redialling; every register stayed gray or yellow saying only what was not at
the console, and the alert told the operator to check the venue's network cable, while the console's
disk was full. Now the relay gives the role up with the console's words, which every register shows
(tests/outside/test_console_disk_full.py).

**Changed** (outside, the twenty-second session): the upgrade's 503 is the console's own trouble, as a
probe's 503 is, and is handled as that one: the link keeps the console's words (``unavailable``) and
redials; the relay service puts them in the heartbeat and keeps the role (every relay would meet the
same console), where the role was given up for 2-30 s and the next register took it over to meet it
again. A refusal (401/403, a close for a policy reason) still gives the role up.

**Changed** (outside2, the twenty-first session): a *probe* answered 503 ("the console cannot check
tokens now": its database cannot be read, a PostgreSQL server stopped) was taken for no answer, so
every register said only what was not at the console and the alert named the network cable. The
probe now carries the console's reason (``Probe.unavailable``), which the relay puts in its heartbeat
until a probe succeeds (tests/outside/test_console_database_down.py).

A ``wss://`` console is checked against the system's trusted CAs, or against ``console_ca_file`` (PEM) when
the node's config names one (a console with a certificate of the venue's own, e.g. on the LAN).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from meshpos.errors import ConfigError
from meshpos.model.limits import text_problem
from meshpos.net.channel import MAX_BACKLOG, Channel
from meshpos.net.dates import date_skew, header_lines
from meshpos.net.port import LinkHandler, LinkPeer, PeerKind
from meshpos.net.wsconn import LinkRefused, dial
from meshpos.sync._codec import HEARTBEAT
from meshpos.trust.relay_proof import RelayProof, nonce_in_answer, refuses_the_device

log = logging.getLogger("meshpos.relay")
CLOSE_POLICY = 1008  # a websocket closed for a policy reason: the console no longer takes it
# What was handed to the socket may still sit in the operating system's buffers on a slow line: it is
# taken to be on its way for as long as this rate needs for it (128 kbit/s, the slowest uplink the chaos
# runs impose; a sale is a few kB, so a stall is still seen in seconds). The price: a console that takes
# none of a backlog it is re-sent in every anti-entropy round (16 kB/s x that interval) goes unnoticed.
SLOWEST_UPLINK_BPS = 16_000  # bytes per second
_probe_failures: dict[str, str] = {}  # console URL -> the last reason logged (log each reason once)


def console_ssl_context(url: str, ca_file: Path | None = None) -> ssl.SSLContext | None:
    """The TLS context for the console at ``url``: None for ``ws://``; for ``wss://`` one that checks the
    console's certificate and host name against ``ca_file`` (PEM), or the system's trusted CAs.

    Raises ConfigError naming the file when it cannot be read or holds no certificate."""
    if urlsplit(url).scheme != "wss":
        return None
    if ca_file is None:
        return _context(None, 0)
    try:
        stamp = Path(ca_file).stat().st_mtime_ns  # a replaced file is read again
    except OSError as exc:
        raise ConfigError(f"console_ca_file {str(ca_file)!r}: {exc.strerror or exc}") from None
    return _context(str(ca_file), stamp)


@functools.lru_cache(maxsize=8)
def _context(ca_file: str | None, stamp: int) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigError(
            f"console_ca_file {ca_file!r}: not a PEM file of CA certificates ({exc})"
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _probe_failed(url: str, reason: str) -> bool:
    if _probe_failures.get(url) != reason:
        _probe_failures[url] = reason
        log.warning("console %s: %s", url, reason)
    return False


@dataclass(frozen=True, slots=True)
class Probe:
    """What one probe learnt: ``ok`` (the console answers and accepts this venue's token), or
    ``refused`` (the console answers and refuses the token: its reason, e.g. "wrong venue token"),
    or neither (no answer: a cable, a DNS failure, a console that is down)."""

    ok: bool
    refused: str = ""
    not_console: str = (
        ""  # something answers there, but not the console's relay port: why we think so
    )
    skew_s: float | None = None  # the console's clock minus ours, from its answer's Date header
    nonce: str = ""  # what the upgrade's proof signs (trust/relay_proof.py; "" from an N−1 console)
    #: the console answers and cannot take a relay now (UNAVAILABLE): its reason, e.g. its database
    unavailable: str = ""


REFUSED_STATUSES = (401, 403)  # what the console answers a wrong token, or a token of another venue
#: the console answers, and cannot take a relay now: its reason is the operator's to read (a full disk)
UNAVAILABLE = 503


def refusal_reason(status: int, body: bytes | bytearray) -> str:
    """The console's reason for refusing the relay, from its answer (first line of the body)."""
    line = bytes(body).decode("utf-8", "replace").strip().split("\n", 1)[0][:200]
    if line and text_problem(line, 200) is None:
        return line
    return f"HTTP {status}"


async def probe_console(
    url: str,
    timeout: float = 2.0,
    ca_file: Path | None = None,
    *,
    venue_id: str = "",
    token: str = "",
    proof: Mapping[str, str] | None = None,
) -> Probe:
    """Can this node reach the console right now, and does it take this venue's token?

    With ``venue_id``: one ``GET`` of the venue's sync path without the websocket upgrade,
    with the token, as the link will present it; the console answers 200 (or, before it knew such
    probes, 426) for a good token and 401/403 with its reason for a bad one (or for this device, by
    ``proof``: trust/relay_proof.py). Without: ``GET /health``.
    A TLS failure (an untrusted certificate, a wrong host name), an unusable ``ca_file`` and a refusal
    are logged once per reason: they need the operator, unlike a cable."""
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    path, auth = "/health", ""
    if venue_id:  # an empty token is asked about too: the console says "missing venue token"
        path = f"{parts.path.rstrip('/')}/v1/venues/{venue_id}/sync"
        auth = f"Authorization: Bearer {token}\r\n"
        auth += "".join(f"{name}: {value}\r\n" for name, value in (proof or {}).items())
    try:
        context = console_ssl_context(url, ca_file)
    except ConfigError as exc:
        return Probe(_probe_failed(url, exc.message))
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
            try:
                sent_at = time.time()
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n".encode()
                )
                await writer.drain()
                answer = b""  # the whole answer (the console closes it), at most 4 kB
                while len(answer) < 4096 and (part := await reader.read(4096 - len(answer))):
                    answer += part
                received_at = time.time()
            finally:
                writer.close()
    except ssl.SSLCertVerificationError as exc:
        return Probe(
            _probe_failed(url, f"TLS: the console's certificate is refused: {exc.verify_message}")
        )
    except ssl.SSLError as exc:
        return Probe(_probe_failed(url, f"TLS: {exc.reason or exc}"))
    except (OSError, TimeoutError):
        return Probe(False)
    head, _, body = answer.partition(b"\r\n\r\n")
    skew = date_skew(header_lines(head.decode("latin-1")), sent_at, received_at)
    code = head.split(b"\r\n", 1)[0].split(b" ")[1:2]
    status = int(code[0]) if code and code[0].isdigit() else 0
    if status in REFUSED_STATUSES:
        reason = refusal_reason(status, body)
        refused = "this device" if refuses_the_device(reason) else "this venue's token"
        _probe_failed(url, f"the console refused {refused}: {reason}")
        return Probe(False, reason, skew_s=skew)
    if status == UNAVAILABLE:  # the console's own problem: the operator's to read, not a cable's
        reason = refusal_reason(status, body)
        _probe_failed(url, f"the console cannot take a relay now: {reason}")
        return Probe(False, skew_s=skew, unavailable=reason)
    if status == 404:  # an HTTP server without the sync path: the console's pages port, say
        why = f"answers 404 to {path}: not the console's relay port (pages and API have another)"
        _probe_failed(
            url, f"{why}; console_url takes the one meshpos console says it listens for relays on"
        )
        return Probe(False, not_console=why)
    _probe_failures.pop(url, None)
    ok = status == 200 or (bool(auth) and status == 426)
    return Probe(ok, skew_s=skew, nonce=nonce_in_answer(body) if status == 200 else "")


#: the console as the relay sees it (the sync protocol checks its hello says so)
CONSOLE_NODE = "console"
OPEN_TIMEOUT = 5.0  # seconds for TCP, TLS and the upgrade


class ConsoleLink:
    """The elected relay's link to the console: dialled, run as a channel, redialled until cancelled."""

    def __init__(
        self,
        *,
        url: str,
        token: str,
        venue_id: str,
        handler: LinkHandler,
        max_size: int,
        rng: random.Random,
        backoff_min: float = 0.2,
        backoff_max: float = 5.0,
        ca_file: Path | None = None,
        max_backlog: int = MAX_BACKLOG,
        proof: Mapping[str, str] | None = None,
    ) -> None:
        """``proof``: the headers that show the console which device relays (trust/relay_proof.py);
        a :class:`RelayProof` makes them over a console's nonce, asked for by a probe right before
        each dial, so that they cannot be replayed (an N−1 console gives none: the plain ones)."""
        self.base_url, self.venue_id = url, venue_id
        self.url = f"{url.rstrip('/')}/v1/venues/{venue_id}/sync"
        self.proof = dict(proof or {})
        self.relay_proof = proof if isinstance(proof, RelayProof) else None
        self.max_backlog = max_backlog
        self.ca_file = ca_file
        self.token = token
        self.peer = LinkPeer(CONSOLE_NODE, CONSOLE_NODE, venue_id, PeerKind.CONSOLE)
        self.handler = handler
        self.max_size = max_size
        self.rng = rng
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.failures = 0
        self.last_error = ""
        #: the console's words from the last dial's 503 (it cannot take a relay now); "" once a dial
        #: is answered otherwise. The relay service shows them (relay/service.py)
        self.unavailable = ""
        self._channel: Channel | None = None
        self._seq = 0
        self.drained_at = 0.0  # loop time by which what was sent reaches the console on a slow line

    @property
    def sending(self) -> bool:
        """Whether changes may still be on their way: queued, being written, or in the operating
        system's buffers of a slow line (as long as the slowest uplink we allow for needs for them).
        The console cannot have acknowledged what it has not received yet."""
        now = asyncio.get_running_loop().time()
        channel = self._channel
        return (channel is not None and channel.sending) or now < self.drained_at

    @property
    def key(self) -> str:
        channel = self._channel
        return channel.key if channel is not None and not channel.closed.is_set() else ""

    async def run(self) -> None:
        """Connect, sync, and redial until cancelled (when this node stops being the relay)."""
        backoff = self.backoff_min
        while True:
            try:
                await self._session()
                backoff = self.backoff_min
            except ConfigError as exc:
                self.failures += 1
                self.last_error = exc.message
                log.error("cannot dial the console: %s", exc.message)
            except LinkRefused as exc:
                self.failures += 1
                if exc.status == UNAVAILABLE:  # the console's own trouble: not a refusal of us
                    reason = refusal_reason(exc.status, exc.body)
                    self.last_error = f"console unavailable: {reason}"
                    if reason != self.unavailable:  # (once a reason: it redials every few seconds)
                        log.warning("the console cannot take the relay now: %s", reason)
                    self.unavailable = reason
                elif exc.status:
                    self.unavailable = ""
                    self.last_error = f"console refused: HTTP {exc.status}"
                    log.error("console refused the relay: HTTP %d", exc.status)
                    if exc.status in REFUSED_STATUSES:
                        self.handler.link_refused(self.peer, refusal_reason(exc.status, exc.body))
                else:
                    self.last_error = f"{exc.kind}: {exc.reason}"
                    log.warning("cannot reach the console at %s: %s", self.url, self.last_error)
            await asyncio.sleep(backoff * (0.5 + self.rng.random()))
            backoff = min(backoff * 2, self.backoff_max)

    async def _session(self) -> None:
        parts = urlsplit(self.url)
        context = console_ssl_context(self.url, self.ca_file)
        host = parts.hostname or ""
        proof = self.proof
        if self.relay_proof is not None:  # the console's nonce, for a proof made for this dial only
            nonce = self.relay_proof.take()  # the relay's last probe's; else one probe more
            if nonce is None:
                probe = await probe_console(
                    self.base_url,
                    OPEN_TIMEOUT,
                    self.ca_file,
                    venue_id=self.venue_id,
                    token=self.token,
                    proof=self.proof,
                )
                nonce = probe.nonce
            if nonce:
                proof = self.relay_proof.fresh(nonce)
        conn = await dial(
            host,
            parts.port or (443 if context is not None else 80),
            context,
            server_hostname=host,
            max_size=self.max_size,
            timeout=OPEN_TIMEOUT,
            path=parts.path,
            headers={"Authorization": f"Bearer {self.token}", **proof},
            compress=True,  # the uplink may be slow; sync updates compress
        )
        self.unavailable = ""
        self._seq += 1
        channel = self._channel = Channel(
            f"console#{self._seq}",
            replace(self.peer, features=conn.features),
            conn,
            self.handler,
            max_backlog=self.max_backlog,
            on_overflow=self._overflow,
            on_sent=self._sent,
            on_finish=self._ended,
        )
        channel.start()
        try:
            await channel.closed.wait()
        finally:  # cancelled: this node is no longer the relay
            await channel.close(1000, "bye")

    def _ended(self, channel: Channel, reason: str) -> None:
        """A close for a policy reason is the console no longer taking this venue's token."""
        if channel.conn.close_code == CLOSE_POLICY:
            self.handler.link_refused(self.peer, channel.conn.close_text or "closed by the console")

    def _overflow(self, channel: Channel) -> None:
        log.warning(
            "the console reads none of the %s bytes waiting for it: dropping the link",
            f"{channel.queued:,}",
        )

    def _sent(self, batch: list[bytes]) -> None:
        """The changes, not the chatter about them, take the slowest uplink's time to arrive."""
        size = sum(len(data) for data in batch if data[0] != HEARTBEAT)
        if size:
            now = asyncio.get_running_loop().time()
            self.drained_at = max(self.drained_at, now) + size / SLOWEST_UPLINK_BPS
