"""A plain ``http://`` request to a console that serves HTTPS (``--tls-cert``): answered in plain HTTP,
400 ``https_required`` naming the port and the scheme, instead of a connection closed without a word;
nothing in the log
is a traceback, and the console keeps answering honest HTTPS requests."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlsplit

from meshpos.harness.tls import console_tls

from ..mesh.kit import ConsoleProcess, make_venue


async def _plain(host: str, port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_plain_http_to_the_consoles_https_port_is_told_to_use_https(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    tls = console_tls(tmp_path, "Test console CA")
    console = ConsoleProcess(
        tmp_path,
        [authority.directory],
        args=["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)],
        ca_file=tls.ca,
    )
    await asyncio.to_thread(console.start)
    try:
        api = urlsplit(str(console.ready["api"]))
        assert api.scheme == "https"
        assert api.hostname is not None
        assert api.port is not None
        for request in (
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /api/login HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
            b"\x00\x01 not http at all\r\n\r\n",
        ):
            reply = await _plain(api.hostname, api.port, request)
            head, _, body = reply.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 "), reply[:200]
            error = json.loads(body)["error"]
            assert error["code"] == "https_required"
            assert f"port {api.port} speaks HTTPS only" in error["message"]
        venues = await asyncio.to_thread(console.call, "GET", "/api/venues")
        assert venues  # an honest HTTPS request still answered
    finally:
        await asyncio.to_thread(console.stop)
    assert "Traceback" not in (tmp_path / "console.log").read_text()
