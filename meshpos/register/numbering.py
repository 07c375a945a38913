"""Receipt numbers on the engine: open the venue with the numbers the store recorded, commit each new
high-water mark with the sale that raised it, and learn them from the mesh after a fresh start.

docs/architecture.md (Durability). :mod:`meshpos.model.numbering` says why numbers must never repeat; this
is the node's side of it: the last sequence is kept in the store's meta (``receipt_seq``, and the series
tag ``receipt_series``), written by the engine's commit through :meth:`ReceiptCounter.meta`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial

from meshpos.config import Config
from meshpos.digits import ascii_digits
from meshpos.engine import Committed, Engine, EngineEvent
from meshpos.errors import ConfigError, StoreError
from meshpos.model import Venue
from meshpos.model.numbering import MARKS_UNSENT_AT_MOST, new_series_tag
from meshpos.store import Store
from meshpos.sync import PeerLive

log = logging.getLogger("meshpos.node")


def check_new_series(config: Config, *, new_series: bool) -> None:
    if new_series and config.role != "register":
        raise ConfigError(
            f"--new-receipt-series: node {config.node_id} is a {config.role}; "
            "only registers number receipts"
        )


async def stored_numbering(
    store: Store, config: Config, *, new_series: bool
) -> tuple[int | None, str]:
    """The last receipt sequence the store recorded (None: a new database, whose numbers are unknown)
    and the series tag; the operator's new series (``new_series``) is recorded before anything is sold."""
    if new_series:
        tag = new_series_tag()
        await store.append([], meta={"receipt_seq": "0", "receipt_series": tag})
        log.warning(
            "register %s starts the new receipt number series %s: its next receipt is %s-%s-000001",
            config.node_id,
            tag,
            config.node_id,
            tag,
        )
        return 0, tag
    seq = await store.get_meta("receipt_seq")
    tag = await store.get_meta("receipt_series") or ""
    if seq is not None and not ascii_digits(seq):
        raise StoreError(
            f"{config.db_path}: meta receipt_seq {seq!r} is not a receipt sequence number"
        )
    return (int(seq) if seq is not None else None), tag


def let_marks_wait(venue: Venue, engine: Engine, wait_ms: float) -> None:
    """Each receipt number's mark after the series' first may leave up to ``wait_ms`` after its
    receipt, merged with the next (config ``mark_wait_ms``; model/numbering.py); 0: with it."""
    if wait_ms > 0:
        venue.numbering.marking = partial(engine.lazily, wait_ms / 1000, MARKS_UNSENT_AT_MOST)


class ReceiptCounter:
    """The node's venue, and its receipt counter kept in the store with every local write."""

    def __init__(self, engine: Engine, config: Config, seq: int | None, tag: str) -> None:
        self.config = config
        self.venue = Venue(
            engine.replica,
            device=config.node_id,
            role=config.role,
            receipt_seq=seq or 0,
            receipt_numbers_known=seq is not None or config.role != "register",
            receipt_series=tag,
        )
        self._learned = False  # a fresh register just learned its numbers: commit them
        # what the store holds (as its meta's text): written again only once it changed
        self._stored = (str(seq), tag) if seq is not None else None
        engine.subscribe(self._on_event, Committed, PeerLive)
        engine.add_meta(self.meta)
        if config.role != "register":
            return
        let_marks_wait(self.venue, engine, config.mark_wait_ms)
        self.venue.numbering.publish()  # committed by the first pump, sent to every peer
        if seq is None:
            log.warning(
                "register %s has a new database: it sells once it has been in sync with a peer or "
                "the console (which know its last receipt number), or after meshpos node "
                "--new-receipt-series",
                config.node_id,
            )

    @classmethod
    async def open(
        cls, engine: Engine, store: Store, config: Config, *, new_series: bool
    ) -> ReceiptCounter:
        """The venue, numbering where the store says this register got to (see stored_numbering)."""
        seq, tag = await stored_numbering(store, config, new_series=new_series)
        return cls(engine, config, seq, tag)

    def meta(self, local: bool) -> Mapping[str, str]:
        """The numbers to commit with this round: only a new high-water mark (or series), not the
        store's own values again. **Changed** (issue 18, cpu): every local commit (four a sale) wrote
        both rows, the same values three times in four: two statements and the meta table's page in
        the commit's WAL frames. What the store holds is known: read at the open, then each commit
        that wrote them (``Committed``, told only once the transaction is in); a failed commit is
        not told, so its numbers go with the next round."""
        numbering = self.venue.numbering
        # never while unknown: a restart would then take the guess for knowledge
        if (local or self._learned) and numbering.known:
            values = (str(self.venue.receipt_seq), numbering.tag)
            if values != self._stored:
                return {"receipt_seq": values[0], "receipt_series": values[1]}
        return {}

    def _on_event(self, event: EngineEvent) -> None:
        if isinstance(event, Committed) and "receipt_seq" in event.meta:
            self._learned = False  # committed (a failed commit is tried again)
            self._stored = (event.meta["receipt_seq"], event.meta.get("receipt_series", ""))
        elif isinstance(event, PeerLive):
            self._learn(event.node)

    def _learn(self, source: str) -> None:
        """A fresh register in sync with ``source`` holds what the mesh knows of its numbers."""
        venue = self.venue
        if venue.numbering.known:
            return
        venue.numbering.learned(venue.ledgers())
        self._learned = True
        log.info(
            "register %s learned its receipt numbers from %s: next is %s-%06d",
            self.config.node_id,
            source,
            venue.numbering.series,
            venue.receipt_seq + 1,
        )
