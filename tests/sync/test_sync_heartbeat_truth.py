"""The heartbeat fields that keep the status truthful (issue 13): ``problem`` (why a node has no working
console link) and ``unreported`` (records the console holds but cannot put in its reports)."""

from __future__ import annotations

import json

import pytest

from meshpos.errors import RemoteProtocolError
from meshpos.sync import Heartbeat, SyncConfig, Synchronizer, decode, encode


def beat(**fields: object) -> Heartbeat:
    base = Heartbeat("R1", "register", 100, True, True, 3, {"catalog": {7: 2}}, {})
    return Heartbeat(**{**{f: getattr(base, f) for f in base.__slots__}, **fields})


def test_problem_and_unreported_round_trip_and_are_left_out_when_empty() -> None:
    full = beat(
        problem="the console refused R1: wrong venue token", unreported=3, unreported_reason="x"
    )
    assert decode(encode(full)) == full
    plain = beat()
    body = json.loads(encode(plain)[1:])
    assert "problem" not in body  # what older nodes send, byte for byte
    assert "unreported" not in body
    assert decode(encode(plain)) == plain


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"problem": 5}, "'problem' expected text"),
        ({"problem": "a\nb"}, "'problem' has a control character"),
        ({"problem": "x" * 501}, "'problem' is 501 characters long"),
        ({"unreported": {"count": 0, "reason": "r"}}, "'count' must be an integer in \\[1,"),
        ({"unreported": {"count": 2}}, "exactly 'count' and 'reason'"),
        ({"unreported": {"count": 2, "reason": "\ud800"}}, "lone surrogate"),
        ({"unreported": [2, "r"]}, "exactly 'count' and 'reason'"),
    ],
)
def test_bad_problem_or_unreported_is_refused_with_its_name(
    extra: dict[str, object], words: str
) -> None:
    body = json.loads(encode(beat())[1:])
    body.update(extra)
    with pytest.raises(RemoteProtocolError, match=words):
        decode(b"\x04" + json.dumps(body).encode())


def sync(node: str, role: str) -> Synchronizer:
    return Synchronizer(
        venue="v",
        node_id=node,
        role=role,
        client_id=11 if role == "console" else 12,
        config=SyncConfig(heartbeat_interval=0.1, settle_heartbeats=0),
    )


def test_the_console_report_goes_console_to_relay_to_register_and_clears() -> None:
    """The console says what it cannot report; the relay passes it on; a register that is not the
    relay says nothing of it (it would be hearsay), and a later report of 0 clears it everywhere."""
    console, relay, register = (
        sync("console", "console"),
        sync("R1", "register"),
        sync("R2", "register"),
    )
    console.set_console_report(2, "ledger/2026-12-04 orders/o1: field 'total' is 'x'")
    relay.set_uplink(True)
    relay.tick(0.0)  # elects itself: the only node with uplink
    assert relay.is_relay
    relay._on_heartbeat(console._heartbeat())
    assert relay.console_report == (2, "ledger/2026-12-04 orders/o1: field 'total' is 'x'")
    register._on_heartbeat(relay._heartbeat())
    assert register.console_report == relay.console_report
    assert register._heartbeat().unreported == 0  # not the relay: not its to tell
    console.set_console_report(0, "")
    relay._on_heartbeat(console._heartbeat())
    register._on_heartbeat(relay._heartbeat())
    assert register.console_report == (0, "")


def test_a_problem_travels_in_every_heartbeat() -> None:
    node = sync("R3", "register")
    node.set_problem("the console refused R3: wrong venue token")
    assert node._heartbeat().problem == "the console refused R3: wrong venue token"
    node.set_problem("")
    assert node._heartbeat().problem == ""


def test_an_elected_relay_says_it_is_connecting_until_its_console_link_is_live() -> None:
    """A relay's ``uplink`` is its last probe's answer, which can be seconds old when the internet has
    just died: a register that saw such a claim showed green while nothing flowed (the metrics outage
    test caught it). Until the relay layer says the console link is in sync, the claim carries why."""
    relay, register = sync("R2", "register"), sync("R1", "register")
    relay.set_uplink(True)
    relay.tick(0.0)
    assert relay.is_relay
    claim = relay._heartbeat()
    assert (claim.relay, claim.uplink) == (True, True)
    assert claim.problem == "R2 is connecting to the console"
    register._on_heartbeat(claim)
    assert register.presence["R2"].problem  # what the status reads: not green on this claim
    relay.set_console_live(True)
    assert relay._heartbeat().problem == ""
    relay.set_problem("the console refused R2: wrong venue token")  # a real problem comes first
    assert relay._heartbeat().problem == "the console refused R2: wrong venue token"
    relay.set_problem("")
    relay.set_console_live(False)
    assert relay._heartbeat().problem == "R2 is connecting to the console"
    relay.set_uplink(False)  # no uplink: no claim to qualify
    assert register._heartbeat().problem == ""
