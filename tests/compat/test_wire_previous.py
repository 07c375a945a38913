"""What N sends a peer that announced no features, the previous release's own decoder takes
(docs/architecture.md (Wire), compatibility rules): a hello and heartbeats with every field filled, the fields N added
included (whatever they are: each gets a value of its type), encoded for an N−1 peer and decoded by
623a0ca's meshpos in its virtualenv (previous.py). A field added without its feature in
``_bodies.HEARTBEAT_FIELD_FEATURES`` fails here at once, where the process test would need the
condition that fills it. And the other way: what 623a0ca sends, every field filled, N decodes (a field
N made required, or a bound N narrowed, fails there)."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from meshpos.model.tally import KINDS
from meshpos.sync import PROTOCOL_VERSION, Heartbeat, Hello, decode, encode
from meshpos.sync._messages import PeerSummary

from .previous import Release

LEDGER = "ledger/2026-11-01"

#: every field 623a0ca's heartbeat has, with a value its decoder accepts (not empty: the encoder
#: leaves an empty optional field out)
PREVIOUS_HEARTBEAT: dict[str, Any] = {
    "node": "R1",
    "role": "register",
    "priority": 10,
    "uplink": True,
    "relay": True,
    "seq": 7,
    "console": {LEDGER: {99: 4}},
    "pending": {LEDGER: 2},
    "peers": ("R2", "K1"),
    "mesh": {"R2": PeerSummary("register", 3)},
    "problem": "the console refused R3: wrong venue token",
    "unreported": 2,
    "unreported_reason": "a corrupt order",
    "reports": {LEDGER: {"R1": {"receipts": 3}}},
    "owed": {"receipts": 1},
}
PREVIOUS_HELLO: dict[str, Any] = {
    "venue": "venue-1",
    "node": "R1",
    "role": "register",
    "software": "meshpos/test",
    "client_id": 12345,
    "protocol": PROTOCOL_VERSION,
}

DECODE = """
import sys
from meshpos.sync import decode
for line in sys.stdin.read().split():
    print(type(decode(bytes.fromhex(line))).__name__)
"""


def filled(hint: Any) -> Any:
    """A value of type ``hint`` that is not empty (a field N added, whatever its type)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return filled(next(a for a in args if a is not type(None)))
    if hint is bool:
        return True
    if hint is int:
        return 1
    if hint is float:
        return 1.5
    if hint is str:
        return "R9"
    if hint is bytes:
        return b"\x01"
    if origin is dict:
        return {filled(args[0]): filled(args[1])}
    if origin is tuple:
        return (filled(args[0]),)
    if origin in (list, set, frozenset):
        return origin([filled(args[0])])
    if dataclasses.is_dataclass(hint):
        return every_field(hint, {})
    raise AssertionError(f"no value for a field of type {hint!r}: teach filled() its type")


def every_field(cls: Any, known: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(
        **{
            f.name: known[f.name] if f.name in known else filled(hints[f.name])
            for f in dataclasses.fields(cls)
            if f.init
        }
    )


def test_an_n_minus_1_peer_takes_every_hello_and_heartbeat_n_sends_it(
    previous_release: Release,
) -> None:
    # every record kind N counts, in the counts a heartbeat carries (a kind N−1 does not know is
    # refused whole unless N leaves it out for that peer: _bodies.KIND_FEATURES)
    every_kind = {kind: 1 for kind in KINDS}
    counted = {"owed": every_kind, "reports": {LEDGER: {"R1": every_kind}}}
    messages = [
        every_field(Hello, PREVIOUS_HELLO),
        every_field(Heartbeat, PREVIOUS_HEARTBEAT | counted),
        every_field(Heartbeat, PREVIOUS_HEARTBEAT | counted | {"relay": False, "mesh": {}}),
    ]
    wire = "\n".join(encode(message, frozenset()).hex() for message in messages)
    decoded = previous_release.run(DECODE, stdin=wire).split()
    assert decoded == [type(m).__name__ for m in messages]
    # and the N−1 fields themselves are not left out for it: it gets what it got from N−1
    sent = every_field(Heartbeat, PREVIOUS_HEARTBEAT)
    assert decode(encode(sent, frozenset())) == dataclasses.replace(sent, **_added_left_out(sent))


def test_n_counts_every_record_kind_n_minus_1_counts(previous_release: Release) -> None:
    """An N−1 peer's counts name only kinds N knows (N's decoder refuses any other)."""
    theirs = previous_release.run("from meshpos.model.tally import KINDS; print(*KINDS)").split()
    assert set(theirs) <= KINDS.keys()


def _added_left_out(message: Heartbeat) -> dict[str, Any]:
    """The fields N added beyond 623a0ca's, at their defaults (what a peer reads when they are absent)."""
    return {
        f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        for f in dataclasses.fields(message)
        if f.name not in PREVIOUS_HEARTBEAT
    }


ENCODE = """
from meshpos.sync import Heartbeat, Hello, encode
from meshpos.sync._messages import PeerSummary
LEDGER = "ledger/2026-11-01"
print(encode(Hello("venue-1", "R1", "register", "meshpos/test", 12345)).hex())
print(encode(Heartbeat(
    "R1", "register", 10, True, True, 7, {LEDGER: {99: 4}}, {LEDGER: 2}, ("R2", "K1"),
    {"R2": PeerSummary("register", 3)}, "the console refused R3: wrong venue token", 2,
    "a corrupt order", {LEDGER: {"R1": {"receipts": 3}}}, {"receipts": 1},
)).hex())
"""


def test_n_takes_every_hello_and_heartbeat_an_n_minus_1_peer_sends(
    previous_release: Release,
) -> None:
    hello, heartbeat = previous_release.run(ENCODE).split()
    assert decode(bytes.fromhex(hello)) == Hello(**PREVIOUS_HELLO)
    expected = every_field(Heartbeat, PREVIOUS_HEARTBEAT)
    expected = dataclasses.replace(expected, **_added_left_out(expected))
    assert decode(bytes.fromhex(heartbeat)) == expected
