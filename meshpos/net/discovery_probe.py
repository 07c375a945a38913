"""Asking the device behind an mDNS advertisement whether it is of our venue: a TLS handshake whose server
certificate must chain to our venue CA (docs/architecture.md (Discovery)).

Used when our first mDNS name is held by a device of the previous release, whose advertisement does not say
which CA it belongs to: another venue with our venue id (a food hall), or our own venue's device with our
node id (a twin, refused). Its certificate tells: the handshake fails verification against our CA for the
other venue's. The host name is not checked, it would not tell: the other venue's device with our venue id
and node id has the very name ours has.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl


async def issued_by_our_ca(
    context: ssl.SSLContext, host: str, port: int, timeout: float
) -> bool | None:
    """True: its certificate is of our CA; False: it is not; None: no handshake (no answer, no TLS)."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=None)
    except ssl.SSLCertVerificationError:
        return False
    except (OSError, TimeoutError, ssl.SSLError):
        return None
    writer.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(timeout):
            await writer.wait_closed()
    return True
