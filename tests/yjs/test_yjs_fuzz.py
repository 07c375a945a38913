"""Fuzz a stock Yjs client's session: whatever bytes it sends, only the project's own protocol errors
(a 44xx or 1008 close), never an exception, and a document changes only by a valid update of a role
that may write it."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map

from meshpos.lib0 import write_var_string, write_var_uint
from meshpos.sync import AwarenessUpdate, SyncStep1, SyncStep2, SyncUpdate, encode_y_payload
from meshpos.sync._yjs import CLOSE_MALFORMED, CLOSE_POLICY, read_close
from tests.yjs.test_yjs_session import LEDGER, node


def _seeds() -> list[bytes]:
    doc: Doc[Any] = Doc(client_id=99)
    doc.get("notes", type=Map)["k"] = "v"
    update = doc.get_update()
    state = write_var_uint(1) + write_var_uint(99) + write_var_uint(1) + write_var_string("{}")
    return [
        encode_y_payload(SyncStep1(LEDGER, doc.get_state())),
        encode_y_payload(SyncStep2(LEDGER, update)),
        encode_y_payload(SyncUpdate(LEDGER, update)),
        encode_y_payload(AwarenessUpdate(LEDGER, state)),
        bytes([3]),  # query awareness
        bytes([2, 0]) + write_var_string("denied?"),  # an auth message from a client: ignored
    ]


SEEDS = _seeds()
mutated = st.builds(
    lambda seed, cut, junk: SEEDS[seed][:cut] + junk,
    st.integers(0, len(SEEDS) - 1),
    st.integers(0, 64),
    st.binary(max_size=16),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(st.one_of(st.binary(max_size=64), mutated), max_size=8))
def test_any_bytes_close_with_a_code_or_are_handled(messages: list[bytes]) -> None:
    for role, may_write in (("kds", False), ("register", True)):
        sync = node()
        sync.open_doc(LEDGER)
        sync.connect_yjs("c", doc=LEDGER, name="yjs:fuzz", role=role)
        for data in messages:
            if "c" not in sync.sessions:
                break
            sync.receive_data("c", data)
        out = sync.data_to_send("c")
        closes = [close for message in out if (close := read_close(message)) is not None]
        assert all(code in (CLOSE_MALFORMED, CLOSE_POLICY) for code, _ in closes)
        notes = dict(sync.docs[LEDGER].get("notes", type=Map).to_py() or {})
        if not may_write:
            assert notes == {}
