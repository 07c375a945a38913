"""Which event loop a meshpos process runs on (docs/architecture.md (Links)): uvloop's when it is
installed (a dependency on Linux), asyncio's otherwise, or when the operator sets
``MESHPOS_LOOP=asyncio``. One place, so the node, the console, the CLI and the bench workers agree."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from meshpos.errors import ConfigError

ENV = "MESHPOS_LOOP"
CHOICES = ("uvloop", "asyncio")

T = TypeVar("T")


def chosen(environ: dict[str, str] | None = None) -> str:
    """ "uvloop" or "asyncio": ``MESHPOS_LOOP`` if set, else uvloop when it can be imported."""
    wanted = (os.environ if environ is None else environ).get(ENV, "").strip().lower()
    if wanted and wanted not in CHOICES:
        raise ConfigError(f"{ENV}={wanted!r}: expected one of {', '.join(CHOICES)}")
    if wanted == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if wanted == "uvloop":
            raise ConfigError(f"{ENV}=uvloop but uvloop is not installed") from None
        return "asyncio"
    return "uvloop"


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The factory for ``asyncio.Runner``: asyncio's own loop even where a policy installed another."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.DefaultEventLoopPolicy().new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the chosen loop."""
    try:
        factory = loop_factory(chosen())
    except BaseException:
        main.close()
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
