"""Which event loop a process runs on (net/loop.py): uvloop's when installed, asyncio's when the
operator says ``MESHPOS_LOOP=asyncio`` or uvloop is missing; anything else is refused by name."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from meshpos.errors import ConfigError
from meshpos.net import loop

HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None


def test_the_operator_chooses_asyncio() -> None:
    assert loop.chosen({"MESHPOS_LOOP": "asyncio"}) == "asyncio"
    made = loop.loop_factory("asyncio")()  # asyncio's own, whatever policy a process installed
    try:
        assert type(made).__module__.startswith("asyncio")
    finally:
        made.close()


def test_an_unknown_loop_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="MESHPOS_LOOP"):
        loop.chosen({"MESHPOS_LOOP": "trio"})


@pytest.mark.skipif(not HAVE_UVLOOP, reason="uvloop is not installed")
def test_uvloop_when_installed_and_run_uses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvloop

    assert loop.chosen({}) == "uvloop"
    assert loop.chosen({"MESHPOS_LOOP": "UVLOOP"}) == "uvloop"
    monkeypatch.delenv("MESHPOS_LOOP", raising=False)

    async def which() -> bool:
        return isinstance(asyncio.get_running_loop(), uvloop.Loop)

    assert loop.run(which())
    monkeypatch.setenv("MESHPOS_LOOP", "asyncio")
    assert not loop.run(which())
