"""The console's "I hear you" at rest, small (issue 18, tick; ``sync/_tick.py``), sans I/O: an idle
console signs a small tick naming its latest full statement instead of the statement again; a node
counts a tick only when it names the statement it took last, checks as a statement does (once per
distinct tick), and is newer than every word before; the relay passes it on only after the statement
it names, and only to peers that take ticks; a peer that takes statements but not ticks keeps getting
whole statements. Each test fails before the change (no tick: ``console_tick_*`` unknown)."""

from __future__ import annotations

import base64
import datetime
import random
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from meshpos.errors import RemoteProtocolError
from meshpos.model.documents import ledger_name
from meshpos.sync import (
    FEATURES,
    ConsoleSignatureRefused,
    SignedConsole,
    SignedTick,
    SyncConfig,
    Synchronizer,
)
from meshpos.sync._bodies import decode_heartbeat, heartbeat_body
from meshpos.sync._messages import Heartbeat
from meshpos.sync._session import Session
from meshpos.sync._signed import TICK_FEATURE, statement_digest, tick_body
from meshpos.sync.memory import MemoryNetwork
from meshpos.trust.console_key import (
    _DOMAIN,
    ConsoleChecker,
    ConsoleSigning,
)

from .test_sync_console_signed import console_and_impostor

VENUE_ID = "5d2c6b1e-1111-4222-8333-000000000019"
DAY = ledger_name("2026-12-01")
WORDS: dict[str, Any] = {"console": {DAY: {}}, "reports": {}, "unreported": (0, "")}
LINK = frozenset({"signed1", "topology1", TICK_FEATURE})


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ConsoleSigning, ConsoleSigning]:
    """(the venue CA, its console's key, a register's genuine key signing as if it were the console)"""
    return console_and_impostor(tmp_path_factory.mktemp("venue") / "venue", VENUE_ID)


def console(signing: ConsoleSigning, *, ticks: bool = True, hb: float = 1.0) -> Synchronizer:
    config = SyncConfig(
        heartbeat_interval=hb,
        settle_heartbeats=0,
        console_signer=signing,
        console_tick_signer=signing.tick if ticks else None,
    )
    sync = Synchronizer(
        venue=VENUE_ID, node_id="console", role="console", client_id=11, config=config
    )
    sync.open_doc(DAY)
    return sync


def register(ca: str, name: str = "R2", *, hb: float = 1.0) -> Synchronizer:
    check = ConsoleChecker(ca, VENUE_ID)
    config = SyncConfig(
        heartbeat_interval=hb,
        settle_heartbeats=0,
        console_check=check,
        console_signed=True,
        console_tick_check=check.tick,
    )
    client = {"R1": 12, "R2": 13, "R3": 14, "R4": 15}[name]
    sync = Synchronizer(
        venue=VENUE_ID, node_id=name, role="register", client_id=client, config=config
    )
    sync.open_doc(DAY)
    return sync


def at(sync: Synchronizer, now: float) -> Synchronizer:
    sync._now = now  # (what ``tick(now)`` sets: the arrival time of what it takes next)
    return sync


def beat(signed: SignedConsole | None = None, tick: SignedTick | None = None) -> Heartbeat:
    return Heartbeat("R1", "register", 1, True, True, 5, {}, {}, signed=signed, tick=tick)


def test_an_idle_console_ticks_instead_of_signing_its_statement_again(
    keys: tuple[str, ConsoleSigning, ConsoleSigning],
) -> None:
    """Over a minute at rest: one full statement, a tick at least every ``console_resign_s``, each
    naming that statement; the tick is a few hundred bytes on the wire."""
    _, signing, _ = keys
    sync = console(signing)
    statements, ticks = set(), set()
    for step in range(601):
        sync.tick(step / 10)
        beat_ = sync._heartbeat()
        assert beat_.signed is not None
        statements.add(beat_.signed)
        if beat_.tick is not None:
            ticks.add(beat_.tick)
            assert f'"of":"{statement_digest(beat_.signed)}"' in beat_.tick.body
    assert len(statements) == 1
    assert 60 / 3 <= len(ticks) <= 60 / 2 + 2, len(ticks)
    tick = next(iter(ticks))
    assert len(heartbeat_body(beat(tick=tick), LINK)) - len(heartbeat_body(beat(), LINK)) < 300
    # when what it says moves, a whole statement again, and no tick names the old one
    sync.set_console_report(1, "ledger: one record corrupt")
    moved = sync._heartbeat()
    assert moved.signed not in statements
    assert moved.tick is None


def test_a_node_counts_a_tick_only_for_the_statement_it_took_last(
    keys: tuple[str, ConsoleSigning, ConsoleSigning],
) -> None:
    ca, signing, _ = keys
    then = datetime.datetime(2026, 12, 6, 10, 0, tzinfo=datetime.UTC)
    sec = datetime.timedelta(seconds=1)
    first = signing.sign(WORDS, then)  # each arrives 2 s after it was signed (the console's lead)
    second = signing.sign({**WORDS, "console": {DAY: {13: 1}}}, then + 5 * sec)
    tick_of_first, tick_of_second = (
        _tick(signing, first, then + 3 * sec),
        _tick(signing, second, then + 6 * sec),
    )
    node = register(ca)
    heard = node.console_heard
    at(node, 1.0)._on_heartbeat(beat(tick=tick_of_first))  # no statement yet: not counted
    assert heard.age(1.0) is None
    at(node, 2.0)._on_heartbeat(beat(signed=first))
    assert heard.age(2.0) == pytest.approx(0.0)
    # a tick naming a statement the node has not got (the console's newer one): not counted
    at(node, 3.0)._on_heartbeat(beat(tick=tick_of_second))
    assert heard.age(3.0) == pytest.approx(1.0)
    assert node.ticks.latest is None
    # the tick of the statement it has is counted: the console's word is its age
    at(node, 5.0)._on_heartbeat(beat(tick=tick_of_first))
    assert heard.age(5.0) == pytest.approx(0.0)
    # the newer statement, then its tick: counted once it has the statement
    at(node, 7.0)._on_heartbeat(beat(signed=second))
    at(node, 8.0)._on_heartbeat(beat(tick=tick_of_second))
    assert heard.age(8.0) == pytest.approx(0.0)
    assert node.ticks.latest is tick_of_second
    # an old tick replayed (of the statement before, or the same again) counts for nothing
    at(node, 12.0)._on_heartbeat(beat(tick=tick_of_first))
    at(node, 12.0)._on_heartbeat(beat(tick=tick_of_second))
    assert heard.age(12.0) == pytest.approx(4.0)


def _tick(signing: ConsoleSigning, of: SignedConsole, when: datetime.datetime) -> SignedTick:
    signing.now = lambda: when
    try:
        tick = signing.tick(statement_digest(of))
    finally:
        signing.now = lambda: datetime.datetime.now(datetime.UTC)
    assert tick is not None
    return tick


def test_each_distinct_tick_is_checked_once(
    keys: tuple[str, ConsoleSigning, ConsoleSigning],
) -> None:
    ca, signing, _ = keys
    statement = signing(WORDS)
    assert statement is not None
    node = register(ca)
    checker = node.config.console_check
    assert isinstance(checker, ConsoleChecker)
    at(node, 1.0)._on_heartbeat(beat(signed=statement))
    tick = signing.tick(statement_digest(statement))
    for _ in range(5):
        at(node, 2.0)._on_heartbeat(beat(signed=statement, tick=tick))
    assert checker.verified == 2  # the statement and the tick, once each


def _forgeries(
    keys: tuple[str, ConsoleSigning, ConsoleSigning], statement: SignedConsole
) -> dict[str, SignedTick]:
    _, signing, device = keys
    good = signing.tick(statement_digest(statement))
    assert good is not None
    of = statement_digest(statement)
    later = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000) + 5000
    body = tick_body(VENUE_ID, later, of)
    by_device = device.tick(of)  # a register's genuine key, as if it were the console's
    assert by_device is not None
    # the console's own key, but the statement domain: a statement's signature is never a tick's
    as_statement = signing._key.sign(_DOMAIN + body.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    elsewhere = signing.tick(of)
    assert elsewhere is not None
    other_venue = tick_body("another-venue", later, of)
    return {
        "another time": SignedTick(body, good.sig),
        "a register's key": by_device,
        "the statement domain": SignedTick(body, base64.b64encode(as_statement).decode()),
        "another venue": SignedTick(other_venue, _raw_sign(signing, other_venue)),
        "not base64": SignedTick(elsewhere.body, "!!"),
    }


def _raw_sign(signing: ConsoleSigning, body: str) -> str:
    from meshpos.trust.console_key import _TICK_DOMAIN

    sig = signing._key.sign(_TICK_DOMAIN + body.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(sig).decode()


@pytest.mark.parametrize(
    "forgery", ["another time", "a register's key", "the statement domain", "another venue"]
)
def test_a_tick_that_fails_the_check_is_refused_and_counts_for_nothing(
    keys: tuple[str, ConsoleSigning, ConsoleSigning], forgery: str
) -> None:
    ca, signing, _ = keys
    statement = signing(WORDS)
    assert statement is not None
    node = register(ca)
    at(node, 1.0)._on_heartbeat(beat(signed=statement))
    before = node.console_heard.age(30.0)
    with pytest.raises(ConsoleSignatureRefused) as refused:
        at(node, 2.0)._on_heartbeat(beat(tick=_forgeries(keys, statement)[forgery]))
    assert "tick" in str(refused.value)
    assert node.console_heard.age(30.0) == before
    assert node.ticks.latest is None


@pytest.mark.parametrize(
    "raw",
    [
        {"b": "x"},
        {"b": "", "s": "AA=="},
        {"b": "x" * 401, "s": "AA=="},
        {"b": "{}", "s": "!!"},
        {"b": "{}", "s": "AA==", "c": "AA=="},
        [],
    ],
)
def test_a_tick_field_of_the_wrong_shape_is_refused_on_decoding(raw: object) -> None:
    body = heartbeat_body(beat(), LINK)
    bad = body[:-1] + b',"tick":' + _json(raw) + b"}"
    with pytest.raises(RemoteProtocolError, match="tick"):
        decode_heartbeat(bad)


def _json(obj: object) -> bytes:
    import json

    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        '{"at":1,"of":"00","venue":"v"}',
        '{"at":-1,"of":"' + "0" * 64 + '","venue":"v"}',
        '{"at":true,"of":"' + "0" * 64 + '","venue":"v"}',
        '{"at":1,"of":"' + "0" * 64 + '"}',
    ],
)
def test_a_tick_body_of_the_wrong_shape_is_refused_before_any_check(
    keys: tuple[str, ConsoleSigning, ConsoleSigning], body: str
) -> None:
    ca, signing, _ = keys
    statement = signing(WORDS)
    assert statement is not None
    for holds in (True, False):  # whether or not the node holds a statement it could name
        node = register(ca)
        if holds:
            at(node, 1.0)._on_heartbeat(beat(signed=statement))
        with pytest.raises(RemoteProtocolError, match="console tick"):
            at(node, 2.0)._on_heartbeat(beat(tick=SignedTick(body, "AA==")))


def test_the_relay_passes_a_tick_after_its_statement_and_only_to_peers_that_take_ticks(
    keys: tuple[str, ConsoleSigning, ConsoleSigning],
) -> None:
    ca, signing, _ = keys
    statement = signing(WORDS)
    assert statement is not None
    relay, peer = register(ca, "R1"), register(ca, "R2")
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=2)
    tick = _tick(signing, statement, later)
    at(relay, 1.0)._on_heartbeat(beat(signed=statement, tick=tick))
    session = Session(relay.hello, peer_features=LINK)
    session.peer = peer.hello
    passed = relay._with_signed(relay._heartbeat(), session)
    assert passed.signed is statement
    assert passed.tick is tick
    again = relay._with_signed(relay._heartbeat(), session)
    assert again.signed is None
    assert again.tick is None
    at(peer, 1.1)._on_heartbeat(passed)
    assert peer.ticks.latest is tick
    old = Session(relay.hello, peer_features=frozenset({"signed1", "topology1"}))
    old.peer = register(ca, "R3").hello
    plain = relay._with_signed(relay._heartbeat(), old)
    assert plain.signed is statement
    assert plain.tick is None
    # revoked since: neither the statement nor its tick goes on (a fresh peer would refuse them)
    checker = relay.config.console_check
    assert isinstance(checker, ConsoleChecker)
    checker.is_revoked = lambda device: device == "console"
    fresh = Session(relay.hello, peer_features=LINK)
    fresh.peer = register(ca, "R4").hello
    gone = relay._with_signed(relay._heartbeat(), fresh)
    assert gone.signed is None
    assert gone.tick is None


def test_a_peer_that_takes_statements_but_not_ticks_gets_whole_statements_again(
    keys: tuple[str, ConsoleSigning, ConsoleSigning],
) -> None:
    """A build with ``signed1`` and no ``tick1`` (none was released; N−1 takes neither) linked to
    the console: the console signs its whole statement again at rest, as before ticks."""
    ca, signing, _ = keys
    for features, whole in ((FEATURES, False), (FEATURES - {TICK_FEATURE}, True)):
        net = MemoryNetwork(random.Random(5))
        net.add(console(signing, hb=0.5))
        net.add(register(ca, "R1", hb=0.5), features=features)
        net.advance(3.0, step=0.05)
        sync = net.nodes["console"]
        first = sync.statements.own
        net.advance(6.0, step=0.05)
        assert (sync.statements.own is not first) is whole
        assert (sync.ticks.own is None) is whole
        assert net.nodes["R1"].console_heard.problem == ""


def test_an_idle_strict_venue_stays_green_on_ticks_and_goes_yellow_when_they_stop(
    keys: tuple[str, ConsoleSigning, ConsoleSigning],
) -> None:
    """The in-memory venue (a console linked to R1 only, four strict registers; the console's clock
    is the network's): green for a minute at rest on one statement and ticks; when R1 passes the
    statement on but withholds the ticks, the registers beyond it are yellow within
    ``console_fresh_s`` (a relay can hold the console's word back, not make it up)."""
    ca, signing, _ = keys
    net = MemoryNetwork(random.Random(7))
    epoch = datetime.datetime(2026, 12, 6, 10, 0, tzinfo=datetime.UTC)
    signing.now = lambda: epoch + datetime.timedelta(seconds=net.now)
    try:
        names = ("R1", "R2", "R3", "R4")
        for name in names:
            net.add(register(ca, name, hb=0.5))
        net.add(console(signing, hb=0.5))
        for name in names[1:]:
            net.cut("console", name)
        net.advance(5.0, step=0.05)
        first = net.nodes["console"].statements.own
        for _ in range(60):
            net.advance(1.0, step=0.05)
            assert [net.nodes[n].console_heard.problem for n in names] == [""] * 4
        assert net.nodes["console"].statements.own is first  # not signed again at rest
        relay = net.nodes["R1"]
        relay._with_signed = lambda beat, session: replace(  # type: ignore[method-assign]
            Synchronizer._with_signed(relay, beat, session), tick=None
        )
        net.advance(12.0, step=0.05)
        assert relay.console_heard.problem == ""
        for name in names[1:]:
            assert "has not confirmed" in net.nodes[name].console_heard.problem
    finally:
        signing.now = lambda: datetime.datetime.now(datetime.UTC)


def test_the_console_sends_its_statement_and_tick_once_per_link(
    keys: tuple[str, ConsoleSigning, ConsoleSigning],
) -> None:
    """Fails before: every console heartbeat carried the whole statement on its link (~25 kB a
    second at 50 registers, on what is often the venue's internet uplink)."""
    ca, signing, _ = keys
    sync = console(signing)
    link = Session(sync.hello, peer_features=LINK)
    link.peer = register(ca, "R1").hello
    sync.tick(0.0)
    first = sync._addressed(sync._heartbeat(), link)
    assert first.signed is not None
    assert sync._addressed(sync._heartbeat(), link).signed is None  # the relay keeps it
    sync.tick(3.0)  # nothing moved: a tick, alone
    ticked = sync._addressed(sync._heartbeat(), link)
    assert ticked.signed is None
    assert ticked.tick is not None
    assert sync._addressed(sync._heartbeat(), link).tick is None
    other = Session(
        sync.hello, peer_features=LINK
    )  # a new link: the statement and its tick at once
    other.peer = register(ca, "R2").hello
    new = sync._addressed(sync._heartbeat(), other)
    assert new.signed is first.signed
    assert new.tick is ticked.tick
