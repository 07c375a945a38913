"""Dropped business days in the synchronizer (issue 18, keep; meshpos/sync/_dropped.py), on the in-memory
network: a dropped day never opens (no ReopenWanted, nothing created empty) and never takes content; a
late update for it goes on to the console when the node has a console session (the relay), is deferred
(cause ``dropped``) otherwise; the relay asks a peer that holds more for it, never the console.
"""

from __future__ import annotations

import pytest

from meshpos.errors import LocalProtocolError

from .test_sync_closed import DAY, OTHER, Mesh


def venue(with_console: bool) -> Mesh:
    """A, B, C (and the console X, linked to A only) holding DAY with r0; A has closed and dropped it."""
    m = Mesh()
    for name in ("A", "B", "C"):
        m.add(name)
    if with_console:
        m.add("X", role="console")
        for name in ("B", "C"):
            m.net.cut(name, "X")
    for name in m.net.nodes:
        m.node(name).open_doc(OTHER)
    m.net.advance(0.5)
    m.write("A", "r0", "receipt 0")
    m.net.advance(0.5)
    m.close("A")
    m.node("A").mark_dropped(DAY)
    del m.stored[("A", DAY)]  # its content is gone
    m.net.cut("B", "C")  # B reaches the others only through A
    m.net.advance(0.5)
    return m


def test_a_dropped_day_never_opens_and_a_late_update_is_deferred_without_a_console() -> None:
    m = venue(with_console=False)
    m.sent.clear()
    m.write("B", "late", "a register back after months offline")
    m.net.advance(3.0)  # live, then anti-entropy rounds
    a = m.node("A")
    assert ("A", DAY) not in m.wanted
    assert DAY not in a.docs
    assert a.is_dropped(DAY)
    assert "late" not in m.keys("C")  # A neither took it nor passed it on
    causes = {e.cause for node, e in m.deferred if node == "A" and e.doc == DAY}
    assert causes == {"dropped"}
    assert m.sent[("A", "SyncStep1", DAY)] == 0  # no console to pass it to: A does not ask for it
    assert m.sent[("A", "SyncStep2", DAY)] > 0  # B's step 1s get A's deletions
    assert m.keys("B") == {"r0", "late"}  # B still holds it (and shows it not at the console)
    with pytest.raises(LocalProtocolError, match="dropped"):
        a.reopen(DAY, None)


def test_a_relay_passes_a_late_update_for_a_dropped_day_to_the_console_and_asks_no_console() -> (
    None
):
    m = venue(with_console=True)
    assert m.keys("X") == {"r0"}
    m.net.partition(["A", "C", "X"], ["B"])
    m.write("B", "late", "sold while offline")  # not live: it comes by anti-entropy
    m.net.advance(0.5)
    m.sent.clear()
    m.net.heal()
    m.net.cut("B", "C")
    for name in ("B", "C"):
        m.net.cut(name, "X")
    m.net.advance(3.0)
    assert m.keys("X") == {"r0", "late"}  # the console got it through A
    assert m.node("A").is_dropped(DAY)
    assert ("A", DAY) not in m.wanted
    assert m.node("A").dropped_passed > 0
    assert m.sent[("A", "SyncStep1", DAY)] > 0  # A asked B for what it holds beyond the summary
    assert not [e for node, e in m.deferred if node == "A" and e.doc == DAY]
