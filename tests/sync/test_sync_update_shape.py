"""``sync/_shape.check_update``: what a peer's update may hold before pycrdt reads it (the outside round of
the twenty-third session, part ``attacker``; the real node is ``tests/outside/test_deep_update.py``).

Every update the model writes passes (a day of sales, the catalog, the stop list, live and whole), a
value nested 64 deep is refused and 63 is not, and what the reader cannot follow as yrs does is refused
with the reason: never read one way here and another by pycrdt."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text

from meshpos.bench.mesh_parts import _register, _sell
from meshpos.errors import RemoteProtocolError
from meshpos.lib0 import write_var_string, write_var_uint
from meshpos.sync import Hello, PeerClosed, SyncStep2, SyncUpdate
from meshpos.sync._shape import MAX_NESTING, check_update

from ..outside.test_deep_update import deep_update
from .helpers import VENUE
from .test_sync_synchronizer import LEDGER, flush, node, raw_peer, write


def _one_struct(info: int, content: bytes, key: str = "u" * MAX_NESTING) -> bytes:
    """An update of one struct under the root map ``x``, key ``key``, of content ``info & 31`` (the
    key's letters ``u`` make it one the reader reads)."""
    return b"".join(
        [
            write_var_uint(1),
            write_var_uint(1),
            write_var_uint(99),
            write_var_uint(0),
            bytes([0x20 | info]),
            write_var_uint(1),
            write_var_string("x"),
            write_var_string(key),
            content,
            write_var_uint(0),
        ]
    )


def test_every_update_the_model_writes_passes() -> None:
    venue = _register(7, "R1")
    for k in range(200):
        _sell(venue, k)
    for captured in venue.replica.take_updates():
        check_update(captured.update, "sync update")
    for name in venue.replica.names():
        check_update(venue.replica.doc(name).get_update(), "sync step 2 update")


def test_shared_types_and_plain_values_of_every_kind_pass() -> None:
    doc: Doc[Any] = Doc()
    root = doc.get("x", type=Map)
    root["map"] = Map({"a": 1, "b": {"c": [1, 2.5, "s", None, True, b"\x00", -(2**40)]}})
    root["array"] = Array([1, 2, {"x": "y"}])
    root["text"] = Text("hello")
    root["text"].insert(2, "é", {"bold": True})
    root["nested"] = Map({"inner": Map({"deeper": Map({"v": 1})})})  # (an older node's orders)
    del root["array"]
    check_update(doc.get_update(), "sync step 2 update")


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        (deep_update(MAX_NESTING), f"a value nested deeper than {MAX_NESTING}"),
        (deep_update(30_000), f"a value nested deeper than {MAX_NESTING}"),
        (deep_update(30_000)[:-20_000], f"a value nested deeper than {MAX_NESTING}"),
        (
            _one_struct(8, write_var_uint(1) + bytes([119]) + write_var_uint(99)),
            "not a valid Yjs update (it ends early)",
        ),
        (_one_struct(7, bytes([3]) + write_var_string("p")), "a shared type of kind 3"),
        (_one_struct(9, write_var_string("guid") + bytes([126])), "makes a sub-document"),
        (_one_struct(2, write_var_uint(1) + write_var_string("[]")), "legacy JSON content"),
        (_one_struct(8, write_var_uint(1) + bytes([115])), "unknown value tag 115"),
        (_one_struct(11, b""), "unknown content ref 11"),
    ],
)
def test_what_pycrdt_would_read_recursively_or_otherwise_is_refused(
    update: bytes, reason: str
) -> None:
    with pytest.raises(RemoteProtocolError, match=r"^sync update: ") as refused:
        check_update(update, "sync update")
    assert reason in refused.value.message


def test_an_update_without_enough_tag_bytes_for_a_deep_value_is_not_read() -> None:
    """(the cost: a live update is counted, not read) and what it holds is harmless to pycrdt"""
    small = _one_struct(9, write_var_string("guid") + bytes([126]), key="k")
    check_update(small, "sync update")
    with pytest.raises(RemoteProtocolError, match="sub-document"):
        check_update(_one_struct(9, write_var_string("guid") + bytes([126])), "sync update")


def test_a_value_nested_just_below_the_bound_passes() -> None:
    check_update(deep_update(MAX_NESTING - 1), "sync update")
    doc: Doc[Any] = Doc()
    doc.apply_update(deep_update(MAX_NESTING - 1))  # (what pycrdt reads alike)


@pytest.mark.parametrize("role", ["register", "console"])
@pytest.mark.parametrize("kind", [SyncUpdate, SyncStep2])
def test_a_peer_sending_a_deep_value_is_closed_and_nothing_is_applied(
    kind: type[SyncUpdate] | type[SyncStep2], role: str
) -> None:
    """The synchronizer (what every session, relay and stock client goes through, the console's
    too) reads the shape before pycrdt: the session closes naming it, the document is as it was."""
    reg = node("r1", role=role)
    write(reg, LEDGER, "p1")
    before = reg.docs[LEDGER].get_update()
    peer, key = raw_peer(reg, Hello(VENUE, "r2", "register", "x", 888))
    reg.events_received()
    peer.send(kind(LEDGER, deep_update(MAX_NESTING, client=888)))
    flush(reg, key, peer)
    [closed] = [e for e in reg.events_received() if isinstance(e, PeerClosed)]
    what = "sync update" if kind is SyncUpdate else "sync step 2 update"
    assert f"{what}: a value nested deeper than {MAX_NESTING}" in closed.reason
    assert key not in reg.sessions
    assert reg.docs[LEDGER].get_update() == before
