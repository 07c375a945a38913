"""Who may clear a register's cache from its page (red, fifteenth session).

Clear cache drops the register's catalog and pulls it again from the console (web/system.py): until it
is back the register sells nothing. From the page any signed-in user could do it, a cook too (the
session needed no right; tests/outside/test_session_user_removed.py left the policy open), so anyone
who knows a cook's PIN could stop the till at will. Now the page's signed-in user needs a manager's
right (``web.system.CLEAR_CACHE_RIGHT``); the API token (``meshpos clear-cache``) stays full trust.

One real register process, its page token read from its page as a browser does. With no console
reachable, a clear that passes the rights check is refused by the node's state (409
``clear_cache_refused``): that answer shows the request got past the rights.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from meshpos.model.sample import CASHIER, COOK, MANAGER
from meshpos.web.system import CLEAR_CACHE_RIGHT
from tests.web.kit import PIN, Client, http, register_with_open_shift

from ..mesh.kit import NodeProcess


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """One register for the module: every clear here is refused, so none changes what the next sees."""
    with register_with_open_shift(tmp_path_factory.mktemp("register")) as node:
        yield node


async def page_client(node: NodeProcess) -> Client:
    html = (await http(node.api, "GET", "/")).body.decode()
    found = re.search(r'name="meshpos-token" content="([^"]+)"', html)
    assert found, html[:300]
    doc = (await http(node.api, "GET", "/api/openapi.json")).json()
    return Client(node.api, found.group(1), doc)


async def clear_as(page: Client, user: str) -> tuple[int, str, str]:
    session = (await page.ok("POST", "/api/login", {"user": user, "pin": PIN}))["session"]
    answer = await page.call("POST", "/api/clear-cache", headers={"X-Meshpos-Session": session})
    error = answer.json()["error"]
    return answer.status, error["code"], error["message"]


@pytest.mark.parametrize("user", [COOK, CASHIER])
async def test_a_signed_in_user_without_the_right_may_not_clear_the_cache(
    register: NodeProcess, user: str
) -> None:
    page = await page_client(register)
    status, code, message = await clear_as(page, user)
    assert (status, code) == (403, "permission_denied"), message  # main: 409, past every check
    assert user in message, message
    assert CLEAR_CACHE_RIGHT in message, message


async def test_a_manager_and_the_api_token_get_to_the_nodes_own_check(
    register: NodeProcess,
) -> None:
    page = await page_client(register)
    status, code, message = await clear_as(page, MANAGER)
    assert (status, code) == (409, "clear_cache_refused"), message  # no console: refused by state
    api = Client(register.api, register.client.token)
    answer = await api.call("POST", "/api/clear-cache")
    assert (answer.status, answer.code) == (409, "clear_cache_refused"), answer.body[:300]
