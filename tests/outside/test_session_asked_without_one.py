"""``GET /api/session`` asked with no session (ninth outside round, the twenty-second session).

A register app's developer, or a page that never signed in, asks who is signed in without sending
``X-Meshpos-Session``. The node answered 401 ``session_ended`` ("this sign-in has ended ... sign in
again"), which tells them a sign-in they never made has ended; a write without one answers
``session_required`` (web/sessions.py), and docs/api.md says the two apart. Now the read says the same
as the write. One real register process; its page token read from its page as a browser does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from meshpos.model.sample import CASHIER
from tests.web.kit import PIN, register_with_open_shift

from ..mesh.kit import NodeProcess
from .test_clear_cache_right import page_client


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    with register_with_open_shift(tmp_path_factory.mktemp("register")) as node:
        yield node


@pytest.mark.parametrize("headers", [{}, {"X-Meshpos-Session": ""}], ids=["none", "empty"])
async def test_asking_without_a_session_says_one_is_required(
    register: NodeProcess, headers: dict[str, str]
) -> None:
    page = await page_client(register)
    answer = await page.call("GET", "/api/session", headers=headers)
    assert (answer.status, answer.code) == (401, "session_required"), answer.body[
        :300
    ]  # main: ended
    assert "X-Meshpos-Session" in answer.json()["error"]["message"]


async def test_an_ended_session_still_says_ended(register: NodeProcess) -> None:
    page = await page_client(register)
    session = (await page.ok("POST", "/api/login", {"user": CASHIER, "pin": PIN}))["session"]
    signed = {"X-Meshpos-Session": session}
    assert (await page.call("GET", "/api/session", headers=signed)).status == 200
    await page.call("POST", "/api/logout", headers=signed)
    answer = await page.call("GET", "/api/session", headers=signed)
    assert (answer.status, answer.code) == (401, "session_ended"), answer.body[:300]
