"""Real nodes for the web tests: a venue, enrolled devices, a catalog whose users have real PINs, and a raw
HTTP/1.1 client (raw so that tests can also send what no well-behaved client would)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from meshpos.config import Config, load_config
from meshpos.model import Replica, Venue, hash_pin
from meshpos.model.sample import MANAGER, sample_catalog
from meshpos.node import Node

from ..mesh.kit import NodeProcess, make_device, make_venue
from .schema_check import check_answer

PIN = "2468"


def _catalog() -> bytes:
    """The sample menu as the console wrote it, every user with PIN ``PIN``."""
    replica = Replica()
    sample_catalog(Venue(replica, device="console", role="console").catalog, pin_hash=hash_pin(PIN))
    return replica.doc("catalog").get_update()


CATALOG = _catalog()


def make_configs(root: Path, devices: list[tuple[str, str]], **settings: Any) -> list[Config]:
    """Enroll ``(node id, role)`` devices of one venue and seed each store with the catalog."""
    authority = make_venue(root)
    configs = []
    for node_id, role in devices:
        path = make_device(
            authority, root, node_id, role=role, catalog=CATALOG, heartbeat_interval=0.2, **settings
        )
        configs.append(load_config(path, env={}))
    return configs


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str:
        return str(self.json()["error"]["code"])


async def http(
    base: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    url = urlsplit(base)
    assert url.hostname is not None
    assert url.port is not None
    data = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
    head = {
        "Host": url.netloc,
        "Content-Length": str(len(data)),
        "Connection": "close",
        **({"Content-Type": "application/json"} if data else {}),
        **(headers or {}),
    }
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        text = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items())
        writer.write(text.encode("latin-1") + b"\r\n" + data)
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    top, _, payload = reply.partition(b"\r\n\r\n")
    status_line, *lines = top.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines)
    return Answer(int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, payload)


async def head_of_stream(base: str, path: str) -> int:
    """The status of a streaming answer (server-sent events): read the head, then hang up."""
    url = urlsplit(base)
    assert url.hostname is not None
    assert url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    return int(head.split()[1])


class Client:
    """The JSON API of one node, with its token. Given the OpenAPI document (``doc``), every JSON answer
    is checked against it: documented status, documented shape."""

    def __init__(self, base: str, token: str, doc: dict[str, Any] | None = None) -> None:
        self.base = base
        self.token = token
        self.doc = doc

    @classmethod
    def of(cls, node: Node, doc: dict[str, Any] | None = None) -> Client:
        return cls(node.api_url, node.api_token, doc)

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> Answer:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers |= kw.pop("headers", {})
        answer = await http(self.base, method, path, body=body, headers=headers, **kw)
        if self.doc is not None and answer.headers.get("content-type") == "application/json":
            check_answer(self.doc, method, path, answer.status, answer.json())
        return answer

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        answer = await self.call(method, path, body)
        assert 200 <= answer.status < 300, (method, path, answer.status, answer.body[:500])
        return answer.json()

    async def error(
        self, status: int, code: str, method: str, path: str, body: Any = None, **kw: Any
    ) -> str:
        """Assert one error answer; its message."""
        answer = await self.call(method, path, body, **kw)
        assert (answer.status, answer.code) == (status, code), (answer.status, answer.body[:500])
        return str(answer.json()["error"]["message"])


@contextlib.contextmanager
def register_with_open_shift(tmp_path: Path) -> Iterator[NodeProcess]:
    """R1 of a new venue as its own process, the sample catalog, a shift open (killed after)."""
    config = make_device(make_venue(tmp_path), tmp_path, "R1", catalog=CATALOG)
    node = NodeProcess(config, tmp_path / "R1.log").start()
    try:
        node.call("POST", "/api/shifts", {"user": MANAGER, "opening_cash": 10_000})
        yield node
    finally:
        node.kill()
