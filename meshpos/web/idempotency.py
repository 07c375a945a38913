"""The ``Idempotency-Key`` request header of the node's writes (docs/api.md, Retries).

A register app on a flaky Wi-Fi sends a write again when it did not get the answer. With the same key the
node writes at most once: the same key and the same request (method, path and validated body) answer the
first answer again once it is committed (with ``Idempotent-Replayed: true``); a request arriving while the
first with its key runs waits for it and answers the same; the key with another request is 422
``idempotency_key_reused`` and changes nothing. The key and the answer are committed with the write's own
update (``meshpos.register.request_keys``), so this holds across a ``kill -9`` and a restart. A request
that was refused (4xx) wrote nothing and keeps no key: sent again, it runs again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from meshpos.httpapi.routes import Route
from meshpos.httpapi.schema import to_json
from meshpos.httpapi.server import HttpError, Request, Response
from meshpos.model import Venue
from meshpos.web.port import KeyMemory, NodeAPI

T = TypeVar("T")

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_CHARS = 255
KEY_PATTERN = f"^[!-~]{{1,{MAX_KEY_CHARS}}}$"  # visible ASCII: what a uuid, a ulid or a counter is
_KEY = re.compile(KEY_PATTERN)
#: a test-only fault: the node exits (as kill -9 would) after committing the write with this key,
#: before answering it (tests/web/test_idempotency_processes.py)
FAULT_EXIT = "MESHPOS_FAULT_EXIT_AFTER_KEYED_WRITE"


def key_of(route: Route, request: Request) -> str | None:
    """The request's key (None: none sent, or a route that takes none); 400 for a malformed one."""
    if not route.keyed:
        return None
    raw = request.headers.get(HEADER.lower())
    if raw is None:
        return None
    if not _KEY.fullmatch(raw):
        raise HttpError(
            400,
            "bad_idempotency_key",
            f"header {HEADER} must be 1 to {MAX_KEY_CHARS} visible ASCII characters "
            "(letters, digits, punctuation; no spaces)",
        )
    return raw


def fingerprint(route: Route, request: Request, body: dict[str, Any]) -> str:
    """What "the same request" means: method, path and the validated body (defaults filled in)."""
    text = json.dumps([route.method, request.path, body], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(slots=True)
class _Flight:
    fingerprint: str
    done: asyncio.Future[Response | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class KeyedWrites:
    """The keys of the writes under way in this process; the committed ones are the node's memory's."""

    def __init__(self) -> None:
        self._flights: dict[str, _Flight] = {}

    async def run(
        self,
        node: NodeAPI,
        memory: KeyMemory,
        key: str,
        print_: str,
        status: int,
        handle: Callable[[NodeAPI], Awaitable[Response]],
    ) -> Response:
        while True:
            flight = self._flights.get(key)
            if flight is None:
                break
            if flight.fingerprint != print_:
                raise _reused(key)
            first = await asyncio.shield(flight.done)
            if first is not None:
                return _replayed(first.status, first.body)
            # the first one was refused or failed: nothing was written, this one runs
        # no await from the look at the flights to this one's: two with one key never both run
        today = node.business_date(node.now_ms())
        found = memory.find(key)
        if found is not None:
            return await _stored(memory, key, print_, *found)
        flight = self._flights[key] = _Flight(print_)
        answer: Response | None = None
        try:
            await memory.expire(today)  # (the keys of days before yesterday, once a day)
            keyed = _KeyedNode(node, memory, memory.name(key, today), print_, status)
            answer = await handle(cast(NodeAPI, keyed))
        finally:
            del self._flights[key]
            flight.done.set_result(answer)
        if os.environ.get(FAULT_EXIT) == key:
            os._exit(137)  # committed, not answered: what a kill -9 at this moment leaves
        return answer


async def _stored(memory: KeyMemory, key: str, print_: str, name: str, first: str) -> Response:
    if first != print_:
        raise _reused(key)
    if memory.pending(name):  # written, its commit not yet done (or failed and being tried again)
        raise HttpError(
            409,
            "idempotency_key_in_progress",
            f"the request with {HEADER} {key!r} is written but not yet durable: send it again",
            {"Retry-After": "1"},
        )
    answer = await memory.answer(name)
    if (
        answer is None
    ):  # (a damaged entry: logged; what it answered is unknown, so nothing is redone)
        raise HttpError(
            409,
            "idempotency_key_used",
            f"the request with {HEADER} {key!r} was done but its answer cannot be read: read the "
            "record it made (GET) instead of sending it again",
        )
    return _replayed(*answer)


def _replayed(status: int, body: bytes) -> Response:
    return Response(status, body, headers={REPLAYED: "true"})


def _reused(key: str) -> HttpError:
    return HttpError(
        422,
        "idempotency_key_reused",
        f"header {HEADER}: {key!r} was used with a different request (method, path or body); "
        "nothing was changed: a new action needs a new key",
    )


def made_answer(node: NodeAPI, result: object) -> bytes | None:
    """The JSON body a keyed write already made of ``result`` (the answer it keeps), if it did."""
    if isinstance(node, _KeyedNode) and node.answer is not None and node.answer[0] is result:
        return node.answer[1]
    return None


class _KeyedNode:
    """The node as one keyed call's handler sees it: its write holds the key and the answer, committed
    with the write's update (the answer is made once: the handler's result is what the write returned)."""

    def __init__(self, node: NodeAPI, memory: KeyMemory, name: str, print_: str, status: int):
        self._node, self._memory, self._name = node, memory, name
        self._print, self._status = print_, status
        self.answer: tuple[object, bytes] | None = None

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._node, attr)

    async def write(self, change: Callable[[Venue, int], T], *, wait: bool = False) -> T:
        def keyed(venue: Venue, now: int) -> T:
            result = change(venue, now)
            body = json.dumps(to_json(result), separators=(",", ":")).encode()
            self._memory.hold(self._name, self._print, self._status, body)
            self.answer = (result, body)
            return result

        return await self._node.write(keyed, wait=wait)
