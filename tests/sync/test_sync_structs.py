"""Reading who set which new key of a root map off a Yjs v1 update (meshpos/sync/_structs.py): what the
kitchen acknowledgement check relies on (tests/mesh/test_kitchen_ack_author.py runs it end to end)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text

from meshpos.errors import RemoteProtocolError
from meshpos.sync._structs import new_keys_by_author


def _kitchen(client: int) -> Doc[Any]:
    """A document with every kind of content a peer could send around the ``held`` map."""
    doc: Doc[Any] = Doc(client_id=client)
    doc.get("tickets", type=Map)["t1"] = Map(
        {"lines": [{"name": "Burger", "qty": 1, "x": 1.5, "n": None, "ok": True}], "at": 2**40}
    )
    text = doc.get("notes", type=Text)
    text += "héllo"
    array = doc.get("raw", type=Array)
    array.append(b"\x01\x02")
    array.append(-5)
    doc.get("held", type=Map)["t1/K1"] = {"at": 5}
    return doc


def test_new_keys_of_the_root_are_listed_with_their_author() -> None:
    k1 = _kitchen(77)
    before = k1.get_state()
    held = k1.get("held", type=Map)
    held["t1/K1"] = {"at": 6}  # written again: it names the item it follows, not its key
    held["t2/K1"] = {"at": 7}
    assert new_keys_by_author(k1.get_update(), "held") == [(77, "t1/K1"), (77, "t2/K1")]
    assert new_keys_by_author(k1.get_update(before), "held") == [(77, "t2/K1")]
    assert new_keys_by_author(k1.get_update(), "tickets") == [(77, "t1")]
    r9: Doc[Any] = Doc(client_id=88)
    r9.apply_update(k1.get_update())
    seen = r9.get_state()
    r9.get("held", type=Map)["t3/K1"] = {"at": 1}
    assert new_keys_by_author(r9.get_update(seen), "held") == [(88, "t3/K1")]


def test_a_malformed_update_is_a_protocol_error_never_a_crash() -> None:
    update = _kitchen(77).get_update()
    for end in range(len(update) - 1):  # every truncation (bounded: one small update)
        with contextlib.suppress(RemoteProtocolError):
            new_keys_by_author(update[:end], "held")
    deep = b"\x01\x01\x05\x00\x08\x01\x04held" + b"\x01\x75" * 100  # arrays in arrays
    with pytest.raises(RemoteProtocolError, match="nested deeper"):
        new_keys_by_author(deep, "held")
