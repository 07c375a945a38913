"""A status reads a document's pending count again only when it may have moved (issue 18, rounds).

``sync.pending`` asks pycrdt for the document's state; a status read every open document's on every
computation, and while sales arrive nearly every ticker round computes one. Now a document is read
again only when a change of it was reported, a day opened or closed, the console's state may have
moved (``status_version``), or changes wait to be reported. Every input still moves the count at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from meshpos.model.documents import is_ledger
from meshpos.model.replica import decode_state_vector
from meshpos.model.sample import CASHIER
from tests.engine.status_kit import pending_reads, shift_open


async def test_a_status_reads_pending_only_where_something_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with shift_open(tmp_path) as node:
        read = pending_reads(monkeypatch)
        sync = node._run().engine.sync
        (ledger,) = [name for name in sync.docs if is_ledger(name)]
        first = node.status().pending_by_document
        assert first.get(ledger, 0) > 0  # the shift is not at the console
        read.clear()
        assert node.status().pending_by_document == first
        assert read == []  # fails before: every open document was read again

        # a change (a sale) moves it at once, and its document is read again (by this status or
        # by a ticker round that ran while the writes were awaited: either read is the fresh one)
        read.clear()
        order = await node.write(lambda venue, at: venue.open_order(CASHIER, at))
        await node.write(lambda v, at, o=order.id: v.add_line(CASHIER, o, "burger", 1, at))
        after_sale = node.status().pending_by_document
        assert after_sale[ledger] > first[ledger]
        assert ledger in read

        # the console taking it all moves it at once: nothing of the ledger day is pending
        state = decode_state_vector(sync.docs[ledger].get_state())
        sync.set_console_state(ledger, state)
        assert ledger not in node.status().pending_by_document
