"""Whether a day has a shift open is kept until its shifts or closes change (issue 18, rounds2):
the last-Z look asks after every commit of a ledger day, several a receipt on every register, and
each ask read every key of both roots."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Map

from meshpos.model.ledger import Ledger


def test_a_shift_open_is_kept_until_a_shift_or_a_close_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doc: Doc[Any] = Doc()
    ledger = Ledger(doc, "2025-11-25")
    assert not ledger.has_open_shift()
    ledger.write_shift("s1", "R1", "u1", 1, 0)
    assert ledger.has_open_shift()  # a shift opened: read again
    reads: list[int] = []
    keys = Map.__iter__

    def counted(self: Map[Any]) -> Any:
        reads.append(1)
        return keys(self)

    monkeypatch.setattr(Map, "__iter__", counted)
    assert ledger.has_open_shift()
    assert reads == []  # fails before: every ask read the keys again
    ledger.write_shift_close("s1", "u1", 2, 0, 0)
    assert not ledger.has_open_shift()  # closed: read again at once
    other: Doc[Any] = Doc()  # a peer's update opening another shift
    other.apply_update(doc.get_update())
    Ledger(other, "2025-11-25").write_shift("s2", "R2", "u2", 3, 0)
    doc.apply_update(other.get_update(doc.get_state()))
    assert ledger.has_open_shift()
    with doc.transaction():  # inside an open transaction nothing kept is used
        ledger.write_shift_close("s2", "u2", 4, 0, 0)
        assert not ledger.has_open_shift()
    assert not ledger.has_open_shift()
    assert not Ledger.snapshot(doc, "2025-11-25").has_open_shift()  # plain values: no keeping
