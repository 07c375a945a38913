"""``meshpos node`` and ``meshpos status``: run a node until a signal, read a running node's status."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from meshpos.config import Config
from meshpos.digits import ascii_digits
from meshpos.errors import ConfigError, MeshposError
from meshpos.localapi import Answer, LocalApi
from meshpos.stop_signals import stop_on_signal
from meshpos.urls import url_problem

log = logging.getLogger("meshpos.node")


def _parse_peer(text: str) -> tuple[str, str, int]:
    from meshpos.trust.names import check_device_id

    node, at, address = text.partition("@")
    host, colon, port = address.rpartition(":")
    if not (node and at and host and colon and ascii_digits(port)):
        raise ConfigError(f"--peer {text!r}: expected NODE@HOST:PORT")
    if not 1 <= int(port) <= 65535:  # it was taken, and the node dialled nothing, silently
        raise ConfigError(f"--peer {text!r}: the port must be from 1 to 65535")
    try:
        check_device_id(node)
    except MeshposError as exc:
        raise ConfigError(f"--peer {text!r}: {exc}") from None
    return node, host, int(port)


def run_node(
    config: Config,
    *,
    peers: Sequence[str] = (),
    discovery: bool = True,
    new_receipt_series: bool = False,
) -> int:
    static = [_parse_peer(p) for p in peers]
    return asyncio.run(_run(config, static, discovery, new_receipt_series))


async def _run(
    config: Config, peers: list[tuple[str, str, int]], discovery: bool, new_receipt_series: bool
) -> int:
    from meshpos.node_adapters import make_node

    stop = asyncio.Event()
    stop_on_signal(stop)  # (a second signal while it stops: ignored, ``meshpos.stop_signals``)
    async with make_node(
        config, discovery=discovery, new_receipt_series=new_receipt_series
    ) as node:
        for node_id, host, port in peers:
            node.add_peer(node_id, host, port)
        # one line for scripts and tests that start nodes: where this node listens
        print(
            json.dumps(
                {
                    "node": config.node_id,
                    "port": node.port,
                    "api": node.api_url,
                    "yjs_port": node.yjs_port,  # browsers' Yjs clients with a token; 0: none
                    "ready": True,
                }
            ),
            flush=True,
        )
        await stop.wait()
        log.info("signal received: shutting down")
    return 0


def api_base(config: Config) -> str:
    """The running node's API address from ``<data_dir>/api.url``, or one line saying why not."""
    url_file = config.data_dir / "api.url"
    try:
        base = url_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise MeshposError(
            f"node {config.node_id} is not running (no {url_file}); start it with meshpos node"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise MeshposError(f"{url_file}: cannot read the node's API address: {reason}") from None
    problem = url_problem(base, ("http",))
    if problem is not None:
        raise MeshposError(
            f"{url_file}: {base[:80]!r} is not a node's API address (http://HOST:PORT: {problem}); "
            "a running node writes it when it starts"
        )
    return base


def _no_answer(config: Config, base: str, answer: Answer) -> MeshposError:
    reason = answer.body if answer.status == 0 else f"HTTP {answer.status}"
    return MeshposError(f"node {config.node_id} does not answer at {base}: {reason}")


def read_status(config: Config) -> dict[str, Any]:
    base = api_base(config)
    answer = LocalApi(base).request("GET", "/status", timeout=3.0)
    try:
        status = answer.json() if answer.ok else None
    except ValueError:
        status = None
    if not isinstance(status, dict):
        raise _no_answer(config, base, answer)
    return status


def _describe(status: dict[str, Any]) -> str:
    from meshpos.node_status import NodeStatus

    return NodeStatus.from_json(status).describe()


def show_status(config: Config, *, as_json: bool, watch: bool) -> int:
    last = None
    while True:
        status = read_status(config)
        text = json.dumps(status, sort_keys=True) if as_json else _describe(status)
        if text != last:
            print(text, flush=True)
            last = text
        if not watch:
            return 0
        try:
            time.sleep(1.0)
        except KeyboardInterrupt:
            return 0
        if not as_json:
            sys.stdout.flush()


def clear_cache(config: Config) -> int:
    """``meshpos clear-cache``: ask the running node (its local API) to drop and re-pull the catalog."""
    from meshpos.trust._files import read_token

    base = api_base(config)
    token_file = config.data_dir / "api.token"
    try:
        token = read_token(token_file)
    except FileNotFoundError:
        raise MeshposError(
            f"node {config.node_id} has no {token_file}; start it with meshpos node"
        ) from None
    answer = LocalApi(base, token).request("POST", "/api/clear-cache", {}, timeout=30)
    if answer.status == 0:
        raise _no_answer(config, base, answer)
    if not answer.ok:
        message = answer.error[1] or f"HTTP {answer.status}"
        raise MeshposError(f"clear cache refused: {message}")
    try:
        body = answer.json() or {}
    except ValueError:
        raise _no_answer(config, base, answer) from None
    print(f"cache cleared on {config.node_id}: {body}")
    return 0
