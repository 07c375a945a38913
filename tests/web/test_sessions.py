"""The page's sign-ins (meshpos/web/sessions.py): bounded in number, ended by logout and by an idle limit."""

from __future__ import annotations

import pytest

from meshpos.config import SESSION_IDLE_S as IDLE_S
from meshpos.httpapi.server import HttpError
from meshpos.web import sessions
from meshpos.web.api import Api
from meshpos.web.sessions import MAX_SESSIONS, Sessions, check_page_write

from .fake_node import FakeNode


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ended(table: Sessions, session: str) -> bool:
    """Whether ``session`` has ended (401 session_ended); False when it still names a user."""
    with pytest.raises(HttpError) as refused:
        table.user_of(session)
    return (refused.value.status, refused.value.code) == (401, "session_ended")


def test_a_session_names_its_user_until_logout() -> None:
    table = Sessions(idle_s=IDLE_S)
    session = table.start("u-anna")
    assert len(session) >= 22  # ≥ 128 bits, URL-safe base64
    assert table.user_of(session) == "u-anna"
    assert table.end(session)
    assert ended(table, session)
    assert not table.end(session)
    assert ended(table, "")


def test_an_idle_session_ends_and_use_keeps_it_alive() -> None:
    clock = Clock()
    table = Sessions(clock, idle_s=IDLE_S)
    used, idle = table.start("u-anna"), table.start("u-ben")
    for _ in range(3):
        clock.now += IDLE_S * 0.6
        assert table.user_of(used) == "u-anna"
    assert ended(table, idle)


def test_asking_who_is_signed_in_does_not_keep_a_sign_in_alive() -> None:
    """The kitchen screen asks each minute (GET /api/session): were that a use, a screen left
    signed in would never reach its idle end."""
    clock = Clock()
    table = Sessions(clock, idle_s=IDLE_S)
    session = table.start("u-kim", kitchen=True)
    clock.now += IDLE_S * 0.6
    assert table.peek(session).user == "u-kim"
    clock.now += IDLE_S * 0.6  # idle since the start: asked, never used
    with pytest.raises(HttpError) as refused:
        table.peek(session)
    assert (refused.value.status, refused.value.code) == (401, "session_ended")
    assert ended(table, session)


class Idle90(FakeNode):
    @property
    def session_idle_s(self) -> float:
        return 90.0


def test_the_idle_limit_is_the_node_s_setting() -> None:
    """node.toml ``session_idle_s`` (meshpos.config) reaches the page's sign-ins through the API."""
    clock = Clock()
    table = Sessions(clock, idle_s=90.0)
    session = table.start("u-anna")
    clock.now += 89.0
    assert table.user_of(session) == "u-anna"
    clock.now += 91.0
    assert ended(table, session)
    assert Api(Idle90(), "t" * 22).sessions.idle_s == 90.0


def test_the_oldest_used_session_goes_first_past_the_bound() -> None:
    table = Sessions(idle_s=IDLE_S)
    first, second = table.start("u-a"), table.start("u-b")
    table.user_of(first)  # used: the second is now the oldest
    for _ in range(MAX_SESSIONS - 1):
        table.start("u-c")
    assert table.user_of(first) == "u-a"
    assert ended(table, second)


def test_a_page_write_names_the_signed_in_user_and_a_kitchen_sign_in_only_cooks() -> None:
    """No write goes unsigned, the kitchen's neither (issue 18, cook: a kitchen write named any user
    holding no right with the page token alone); a kitchen sign-in writes on kitchen routes only."""
    table = Sessions(idle_s=IDLE_S)
    session = table.start("u-cashier")
    cooking = table.start("u-cook", kitchen=True)
    rights = {"u-cashier": frozenset({"sell"}), "u-manager": frozenset({"refund"})}

    def rights_of(user: str) -> frozenset[str]:
        return rights.get(user, frozenset())

    def known(user: str) -> bool:
        return user in rights or user == "u-cook"

    check_page_write(table, session, "u-cashier", False, rights_of, known)
    check_page_write(table, session, None, False, rights_of, known)  # a write naming no user
    check_page_write(table, session, "u-cashier", True, rights_of, known)  # the register's stop
    check_page_write(table, cooking, "u-cook", True, rights_of, known)  # the kitchen's cook
    with pytest.raises(HttpError) as refused:
        check_page_write(table, session, "u-manager", False, rights_of, known)
    assert (refused.value.status, refused.value.code) == (403, "user_mismatch")
    with pytest.raises(HttpError) as refused:
        check_page_write(table, session, "u-cook", True, rights_of, known)  # a cook's name
    assert (refused.value.status, refused.value.code) == (403, "user_mismatch")
    for user in ("u-cook", None):  # a kitchen sign-in on a register's route
        with pytest.raises(HttpError) as refused:
            check_page_write(table, cooking, user, False, rights_of, known)
        assert (refused.value.status, refused.value.code) == (403, "kitchen_sign_in")
    for user, kitchen in (("u-manager", True), ("u-cook", True), ("u-cook", False), (None, True)):
        with pytest.raises(HttpError) as refused:
            check_page_write(table, "", user, kitchen, rights_of, known)
        assert (refused.value.status, refused.value.code) == (401, "session_required")
    del rights["u-cashier"]  # the manager removed the signed-in user: their session has ended
    with pytest.raises(HttpError) as refused:
        check_page_write(table, session, None, False, rights_of, known)
    assert (refused.value.status, refused.value.code) == (401, "session_ended")
    assert sessions.HEADER == "x-meshpos-session"


@pytest.mark.parametrize("bad", ["junk", "a" * 42 + "=", "a" * 44, "a" * 42 + "\u00e9"])
def test_a_value_of_no_sessions_shape_is_refused_by_name(bad: str) -> None:
    table = Sessions(idle_s=IDLE_S)
    table.start("u-anna")
    for ask in (table.peek, table.user_of):
        with pytest.raises(HttpError) as refused:
            ask(bad)
        assert (refused.value.status, refused.value.code) == (400, "bad_session")
        assert sessions.HEADER_NAME in refused.value.message
