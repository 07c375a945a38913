"""PIN guessing against a real `meshpos node` (issue 13, defect 8): a burst of guesses gets a handful of PIN
checks, then 429 with Retry-After for the user or the client address, a right PIN included, until the lock
ends; each lock is logged once and counted."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.harness.wait import wait_for
from meshpos.localapi import LocalApi
from meshpos.model.sample import CASHIER, MANAGER
from meshpos.web.pins import CLIENT_STRIKES, USER_STRIKES

from ..mesh.kit import NodeProcess, make_device, make_venue
from .kit import CATALOG, PIN, Answer, http

LOCK_S = 3.0  # the node's pin_lockout_s: long enough to outlast a burst, short enough to wait out
BURST = 300


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[NodeProcess, str]]:
    """A register as `meshpos node`, every catalog user with PIN ``PIN``: (process, API token)."""
    config = make_device(
        make_venue(tmp_path), tmp_path, "R1", catalog=CATALOG, pin_lockout_s=LOCK_S
    )
    process = NodeProcess(config, tmp_path / "R1.log").start()
    try:
        token = (load_config(config, env={}).data_dir / "api.token").read_text().strip()
        yield process, token
    finally:
        process.kill()


def _login_status(base: str, token: str, user: str, pin: str) -> int:
    """One login from a plain blocking client (for waiting out a lock on a thread)."""
    return LocalApi(base, token).request("POST", "/api/login", {"user": user, "pin": pin}).status


async def _burst(
    base: str, token: str, logins: list[tuple[str, str]]
) -> tuple[list[Answer], float]:
    """All the logins at once; the answers and the seconds the burst took."""
    auth = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    answers = await asyncio.gather(
        *(
            http(base, "POST", "/api/login", body={"user": u, "pin": p}, headers=auth)
            for u, p in logins
        )
    )
    return answers, time.monotonic() - started


def _counters(node: NodeProcess) -> dict[str, int]:
    counters: dict[str, int] = node.call("GET", "/api/status")["counters"]
    return counters


def _locked(answer: Answer, whom: str) -> None:
    assert (answer.status, answer.code) == (429, "pin_locked")
    assert 1 <= int(answer.headers["retry-after"]) <= LOCK_S
    assert whom in answer.json()["error"]["message"]


@pytest.mark.slow
async def test_pin_guessing_is_locked_out_per_user_and_per_client(
    node: tuple[NodeProcess, str],
) -> None:
    process, token = node
    base = process.api
    wrong = [f"{i:04d}" for i in range(BURST + 1) if f"{i:04d}" != PIN][:BURST]

    # 300 guesses at one user, all at once: the first USER_STRIKES are checked, the rest are refused
    answers, took = await _burst(base, token, [(CASHIER, pin) for pin in wrong])
    print(f"burst of {BURST} guesses at one user answered in {took:.2f} s")
    assert took < LOCK_S, "the burst outlasted the lock; the count below would not mean anything"
    statuses = Counter(a.status for a in answers)
    assert statuses == {403: USER_STRIKES, 429: BURST - USER_STRIKES}, statuses
    _locked(next(a for a in answers if a.status == 429), f"user {CASHIER}")

    # the right PIN is refused while the lock lasts, and accepted once it is over
    right = await _burst(base, token, [(CASHIER, PIN)])
    _locked(right[0][0], f"user {CASHIER}")
    waited = await asyncio.to_thread(
        lambda: wait_for(
            lambda: _login_status(base, token, CASHIER, PIN) == 200,
            LOCK_S * 3,
            "the right PIN accepted after the user's lock",
            every=0.1,  # the lock ends with time: nothing announces it
        )
    )
    print(f"the user's lock ended {waited:.2f} s after the right PIN was refused")

    # guesses spread over many users hit the client's limit: its total of wrong PINs stays CLIENT_STRIKES
    spray = [(f"u-guess-{i}", "0000") for i in range(BURST - 1)] + [(MANAGER, "1357")]
    answers, took = await _burst(base, token, spray)
    statuses = Counter(a.status for a in answers)
    assert set(statuses) == {403, 429}, statuses
    assert statuses[403] == CLIENT_STRIKES - USER_STRIKES  # the first burst's strikes still count
    _locked(next(a for a in answers if a.status == 429), "this device")
    refused = await _burst(base, token, [(MANAGER, PIN)])
    _locked(refused[0][0], "this device")
    await asyncio.to_thread(
        lambda: wait_for(
            lambda: _login_status(base, token, MANAGER, PIN) == 200,
            LOCK_S * 3,
            "the right PIN accepted after the client's lock",
            every=0.1,  # the lock ends with time: nothing announces it
        )
    )

    counters = _counters(process)
    assert counters["pin_wrong"] == CLIENT_STRIKES  # all the PINs that were checked and wrong
    assert counters["pin_lockouts"] == 2  # the user, then the client
    assert counters["pin_refused"] >= 2 * BURST - CLIENT_STRIKES
    log = (process.log).read_text()
    assert log.count(f"PIN guessing: user {CASHIER} locked") == 1, log[-2000:]
    assert log.count("PIN guessing: client ") == 1, log[-2000:]
