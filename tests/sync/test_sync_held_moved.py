"""``sync/_held.Moved`` (issue 18, held; cost with the day): a reader of a document's held state reads
again only the nodes moved since its stamp, and every node after the document was forgotten (its
day closed). It kept a stamp for every document ever forgotten, one more per closed day for ever;
now the last ``KEPT_RESETS``, and a reader older than a stamp it dropped reads every node again
(more work once, never a node missed)."""

from __future__ import annotations

from meshpos.sync._held import KEPT_RESETS, Moved


def test_the_forgotten_documents_it_keeps_are_bounded_and_an_old_reader_still_reads_all() -> None:
    moved = Moved()
    moved.move("ledger/2026-01-01", "R1")
    old_reader = moved.stamp  # read ledger/2026-01-01 up to here, then its day closed
    moved.forget("ledger/2026-01-01")
    live = "ledger/live"
    moved.move(live, "R1")
    live_reader = moved.stamp
    for day in range(1000):  # three years of closed days
        moved.forget(f"ledger/{day}")
        moved.forget(f"kitchen/{day}")
    assert len(moved._reset) <= KEPT_RESETS
    assert moved.since("ledger/2026-01-01", old_reader) is None  # its forgetting dropped: all again
    assert moved.since(live, live_reader) is None  # older than a dropped forgetting: all again
    now = moved.stamp
    moved.move(live, "R2")
    assert moved.since(live, now) == ["R2"]  # a reader since: only what moved
    assert moved.since("ledger/999", now) == []
    assert moved.since("ledger/999", now - 2) is None  # forgotten after that reader: all again
