"""The console's word as evidence that it hears the venue now (issue 18, fresh; ``sync/_fresh.py``),
sans I/O: the console signs again while nothing moves, a node judges freshness on its own monotonic
clock whatever the console's clock says, a held-back statement by its age, and a statement saying the
same words at another time is not decoded again."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from meshpos.model.documents import ledger_name
from meshpos.sync import SyncConfig, Synchronizer
from meshpos.sync._bodies import decode_statement
from meshpos.sync._fresh import LEAD_WINDOW, ConsoleHeard
from meshpos.sync._messages import Hello
from meshpos.sync._signed import Statements
from meshpos.trust import init_venue
from meshpos.trust.console_key import ConsoleSigning, issue_console_key, load_console_signing

VENUE_ID = "5d2c6b1e-1111-4222-8333-000000000018"
FRESH, UPLOAD = 10.0, 30.0
DAY = ledger_name("2026-12-01")
ME = Hello(venue=VENUE_ID, node="R1", role="register", software="test", client_id=12)


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> ConsoleSigning:
    directory: Path = tmp_path_factory.mktemp("venue") / "venue"
    issue_console_key(init_venue(directory, "Cafe", VENUE_ID))
    loaded = load_console_signing(directory, VENUE_ID)
    assert loaded is not None
    return loaded


def test_an_idle_console_signs_again_every_few_seconds(signing: ConsoleSigning) -> None:
    """Fails before: it signed once, then again only when its state moved."""
    signed: list[Any] = []

    def signer(said: dict[str, Any]) -> Any:
        signed.append(signing(said))
        return signed[-1]

    config = SyncConfig(heartbeat_interval=1.0, console_signer=signer)
    console = Synchronizer(
        venue=VENUE_ID, node_id="console", role="console", client_id=11, config=config
    )
    console.open_doc(DAY)
    for step in range(201):  # 20 s at rest
        console.tick(step / 10)
    assert 20 / 3 <= len(signed) <= 20 / 2 + 1, len(signed)
    said = {(s.body.partition(",")[2]) for s in signed}  # the words less the time: the same
    assert len(said) == 1


class Bounds:
    console_fresh_s = FRESH
    upload_bound_s = UPLOAD


def judged(heard: ConsoleHeard, now: float, relay: str | None = "R3") -> str:
    heard.judge(Bounds(), now, relay, ME, {}, {})
    return heard.problem


def test_freshness_is_judged_on_the_node_s_clock_whatever_the_console_s_says() -> None:
    heard = ConsoleHeard()
    assert "has not confirmed" in judged(heard, 0.0)  # nothing heard yet
    skew = 3 * 3600  # the console's clock three hours ahead of this node's (and any epoch)
    for t in range(0, 60, 2):  # a statement every 2 s, arriving 0.1 s after it was signed
        heard.statement(int((skew + t) * 1000), t + 0.1)
        assert judged(heard, t + 1.0) == ""
    assert judged(heard, 58.1 + FRESH - 0.5) == ""
    assert "has not confirmed for over 10 s" in judged(heard, 58.1 + FRESH + 0.5)
    assert "the relay is R3" in heard.problem


def test_statements_held_back_are_judged_by_their_age_not_their_arrival() -> None:
    """A relay that held statements back passes one on a second, each newer than the one before
    (their arrival alone would say fresh): each is half a second older than the last."""
    heard = ConsoleHeard()
    heard.statement(1_000_000, 0.0)  # the best path: a lead of 1,000 s
    ages = []
    for k in range(1, 30):
        heard.statement(1_000_000 + k * 500, float(k))
        ages.append(heard.age(float(k)))
    assert ages[0] == pytest.approx(0.5)
    assert ages[-1] == pytest.approx(14.5)
    assert "has not confirmed" in judged(heard, 29.0)


def test_a_console_clock_stepped_back_is_forgiven_within_two_windows() -> None:
    heard = ConsoleHeard()
    heard.statement(10_000_000, 0.0)
    heard.statement(10_000_000 - 600_000, 2.0)  # its clock 10 minutes back (taken: newer by order)
    assert "has not confirmed" in judged(heard, 2.5)  # pessimistic meanwhile
    t = 2.0
    while t < 2 * LEAD_WINDOW + 10:
        t += 2.0
        heard.statement(int(10_000_000 - 600_000 + (t - 2.0) * 1000), t)
    assert judged(heard, t + 0.5) == ""


def test_own_data_not_covered_after_the_upload_bound_names_the_relay() -> None:
    heard = ConsoleHeard()
    docs: dict[str, Any] = {}
    from pycrdt import Doc, Map

    doc: Doc[Any] = Doc(client_id=ME.client_id)
    docs[DAY] = doc
    for receipt in ("r1", "r2"):  # two writes: clock 2
        with doc.transaction():
            doc.get("receipts", type=Map)[receipt] = "x"
    console: dict[str, dict[int, int]] = {}
    t = 0.0
    while t <= UPLOAD + 1:
        heard.statement(int(t * 1000), t)  # the console's word, fresh, covering nothing
        heard.judge(Bounds(), t, "E3", ME, docs, console)
        if t < UPLOAD:
            assert heard.problem == "", t
        t += 1.0
    assert "is not at the console: the relay E3 passes the console's word on" in heard.problem
    console[DAY] = {ME.client_id: 1}  # half of it: a catch-up on its way, not the relay's fault
    heard.statement(int(t * 1000), t)
    heard.judge(Bounds(), t, "E3", ME, docs, console)
    assert "is not at the console yet; it is on its way (the relay is E3)" in heard.problem
    console[DAY] = {ME.client_id: 2}  # all of it
    t += 1.0
    heard.statement(int(t * 1000), t)
    assert heard.judge(Bounds(), t, "E3", ME, docs, console)
    assert heard.problem == ""


def test_the_same_words_at_another_time_are_not_decoded_again(signing: ConsoleSigning) -> None:
    words = {"console": {DAY: {12: 3}}, "reports": {}, "unreported": (0, "")}
    at = datetime.datetime(2026, 12, 6, 10, 0, tzinfo=datetime.UTC)
    first = signing.sign(words, at)
    statements = Statements(strict=True)
    assert statements.again(first) is None  # nothing before it
    statements.keep(first, decode_statement(first.body))
    later = signing.sign(words, at + datetime.timedelta(seconds=2))
    assert statements.again(later) == decode_statement(later.body)
    moved = signing.sign({**words, "console": {DAY: {12: 4}}}, at)
    assert statements.again(moved) is None
