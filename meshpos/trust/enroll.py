"""Pairing over a websocket: the venue's one-shot pairing server and the device's ``enroll`` client.

Plain ``ws://`` on purpose: before enrollment there is nothing to anchor TLS to. The PAKE authenticates both
ends and the MACs protect the integrity of the CSR and the certificate; neither needs to be secret. The server
binds one address only (never a wildcard) and stops after one attempt, success or failure, or at expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from meshpos.errors import EnrollmentRefused, TrustError
from meshpos.ops.logs import LIMIT_KEY
from meshpos.trust._files import read_file, write_file
from meshpos.trust.authority import VenueAuthority
from meshpos.trust.certs import new_private_key, private_key_pem
from meshpos.trust.console_key import CONSOLE_CERT
from meshpos.trust.identity import (
    IDENTITY_FILES,
    DeviceIdentity,
    check_destination,
    identity_from_pems,
    new_csr,
    save_identity,
)
from meshpos.trust.names import check_device_id, check_role
from meshpos.trust.pairing import (
    DEFAULT_TTL,
    MAX_MESSAGE,
    MAX_TTL,
    TAKES_CONSOLE,
    EnrollmentResult,
    PairingCode,
    PairingServer,
    parse_code,
)
from meshpos.trust.pairing_device import PairingDevice
from meshpos.trust.pairing_slots import PairingSlots, slotted
from meshpos.urls import url_problem

log = logging.getLogger("meshpos.trust")

#: websocket frames above this are closed by websockets itself (1009); the codec refuses above MAX_MESSAGE
WS_MAX_SIZE = 4 * MAX_MESSAGE
MESSAGE_TIMEOUT = (
    10.0  # seconds a connection may stay silent while the server waits for its next message
)


def _check_bind_host(host: str) -> None:
    try:
        unspecified = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        unspecified = host in ("", "*")
    if unspecified:
        raise TrustError(
            f"pairing host {host!r}: give the address of one interface (e.g. 127.0.0.1), never a wildcard"
        )


async def serve_pairing(
    authority: VenueAuthority,
    role: str,
    host: str,
    port: int,
    *,
    code: PairingCode | str | None = None,
    ttl: float = DEFAULT_TTL,
    device_id: str | None = None,
    on_ready: Callable[[int, PairingCode], None] | None = None,
    reissue: bool = False,
    message_timeout: float = MESSAGE_TIMEOUT,
    max_clients: int | None = None,
) -> EnrollmentResult:
    """Serve one pairing code until a device enrolls (the result), or it fails or expires (raises).

    ``on_ready(port, code)`` runs once the socket listens, so a caller can show the code and the port.
    """
    check_role(role)
    _check_bind_host(host)
    if not 0 < ttl <= MAX_TTL:  # 1e400 met an OverflowError once listening
        raise TrustError(
            f"pairing code lifetime {ttl!r}: must be more than 0 and at most {MAX_TTL:g} seconds "
            "(a day)"
        )
    loop = asyncio.get_running_loop()
    if not isinstance(code, PairingCode):
        code = (
            PairingCode.generate(loop.time(), ttl)
            if code is None
            else PairingCode.parse(code, loop.time(), ttl)
        )
    console = authority.directory / CONSOLE_CERT  # handed to a device that takes it (sticky)
    console_pem = read_file(console, "console certificate") if console.exists() else None
    server = PairingServer(
        code, authority, role, device_id=device_id, reissue=reissue, console_pem=console_pem
    )
    finished = asyncio.Event()
    slots = PairingSlots(
        max_clients
    )  # a LAN outsider's idle connections are bounded (pairing_slots)

    async def handler(ws: ServerConnection) -> None:
        conn = object()
        peer = ws.remote_address
        name, value = TAKES_CONSOLE
        takes_console = ws.request is not None and ws.request.headers.get(name) == value
        try:
            while True:
                async with asyncio.timeout(message_timeout):
                    data = await ws.recv()
                slots.pairing(ws)
                reply = server.receive(conn, data, loop.time(), takes_console=takes_console)
                await ws.send(reply.send)
                if reply.close:
                    if server.result is None:  # one kind per address: the words are the sender's
                        host = peer[0] if isinstance(peer, tuple) and peer else str(peer)
                        limit = {LIMIT_KEY: ("pairing refused", host)}
                        log.warning("pairing: refused %s: %s", peer, reply.send, extra=limit)
                    return
        except TimeoutError:
            log.warning("pairing: %s sent nothing for %.0f s; closing", peer, message_timeout)
        except ConnectionClosed:
            log.info("pairing: %s closed the connection", peer)
        finally:
            server.connection_lost(conn)
            if server.finished:
                finished.set()

    async with serve(
        handler,
        host,
        port,
        max_size=WS_MAX_SIZE,
        max_queue=4,
        compression=None,
        open_timeout=message_timeout,
        ping_interval=None,
        create_connection=slotted(slots),
    ) as ws_server:
        actual_port = int(ws_server.sockets[0].getsockname()[1])
        left = code.expires_at - loop.time()
        log.info(
            "pairing: listening on %s:%d for a %s, code valid %.0f s", host, actual_port, role, left
        )
        if on_ready is not None:
            on_ready(actual_port, code)
        while not server.finished:
            try:
                async with asyncio.timeout(max(code.expires_at - loop.time(), 0.0)):
                    await finished.wait()
            except TimeoutError:
                # an attempt already running may finish (bounded by message_timeout); else it expires now
                if not server.expire(loop.time()):
                    await finished.wait()
    return server.outcome()


async def enroll(
    url: str,
    code: str,
    device_id: str,
    directory: Path,
    *,
    timeout: float = 10.0,
) -> DeviceIdentity:
    """Enroll this device with a venue's pairing server and save its identity in ``directory``.

    The device makes its own key; only a CSR leaves it. Nothing is written unless the venue proved it knew
    the code and the issued certificate checks out.
    """
    check_device_id(device_id)
    digits = parse_code(code)
    problem = url_problem(url, ("ws",))
    if problem is not None:
        raise TrustError(f"pairing server {url!r}: must be a ws://host:port URL: {problem}")
    check_destination(directory)  # before the code is spent: a failed save afterwards wastes it
    key = new_private_key()
    device = PairingDevice(digits, device_id, new_csr(key, device_id))
    try:
        async with (
            asyncio.timeout(timeout),
            connect(
                url,
                proxy=None,
                max_size=WS_MAX_SIZE,
                compression=None,
                open_timeout=None,
                ping_interval=None,
                additional_headers=[TAKES_CONSOLE],
            ) as ws,
        ):
            await ws.send(device.start())
            while device.result is None:
                out = device.receive(await ws.recv())
                if out is not None:
                    await ws.send(out)
    except TimeoutError:
        raise EnrollmentRefused(
            f"no answer from the pairing server at {url} within {timeout:g} s"
        ) from None
    except ConnectionClosed:
        raise EnrollmentRefused(
            f"the pairing server at {url} closed the connection early"
        ) from None
    except ConnectionRefusedError:  # what an expired or used-up code looks like from here
        raise EnrollmentRefused(
            f"nothing answers at {url}: meshpos pair is not running there (any more): a code lasts "
            f"its --ttl ({DEFAULT_TTL:g} s unless set) and ends at a wrong code; start pairing "
            "again for a new one"
        ) from None
    except (OSError, InvalidHandshake, InvalidURI) as exc:
        raise EnrollmentRefused(f"cannot reach the pairing server at {url}: {exc}") from None
    issued = device.result
    identity = identity_from_pems(private_key_pem(key), issued.cert_pem, issued.ca_pem)
    try:
        save_identity(directory, identity)
        if issued.console_pem is not None:
            # pinned: the node takes the console's word only as signed from its first start
            # (``console_strict``); the venue CA stays the root its statements are checked against
            write_file(directory / CONSOLE_CERT, issued.console_pem)
    except OSError as exc:  # the disk filled or the folder changed during the exchange
        for name in (*IDENTITY_FILES, CONSOLE_CERT):  # none was there before (check_destination)
            with contextlib.suppress(OSError):
                (directory / name).unlink()  # half an identity would refuse the next enrolment
        raise TrustError(
            f"{directory}: the venue issued {device_id} a certificate, but it could not be saved here "
            f"({exc.strerror or exc}); the code is used up: start meshpos pair again for a new one"
        ) from None
    log.info("enrolled as %s %r in venue %s", identity.role, device_id, identity.venue_id)
    return identity
