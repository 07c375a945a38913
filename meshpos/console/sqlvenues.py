"""The venues a console serves and each one's relay token, in portable SQL (a part of
:class:`meshpos.console.sqlbase.SqlConsoleDB`, apart by meaning). The token itself is never stored,
only its hash; the venue directory's token is the one that counts (``register_venues`` at each start),
so a token replaced there (``meshpos venue console-token --new``) refuses the old one from then on.
And the console nonces relays' upgrades took (:meth:`VenueStatements.take_relay_nonce`)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from meshpos.console.cursor import Cursor, now_ms
from meshpos.console.epoch_marks import EpochMarks
from meshpos.console.tables import Dialect
from meshpos.console.tokens import (
    MIN_TOKEN_LENGTH,
    check_token_hash,
    check_venue_id,
    hash_token,
    same_hash,
)
from meshpos.console.turns import FIRST, LATER
from meshpos.errors import StoreError
from meshpos.trust.relay_proof import NONCE_KEPT_S, NONCE_PURGE_BATCH

T = TypeVar("T")
_EPOCH = "COALESCE(epoch_ms, created_at_ms)"  # (NULL until a console set a new one: schema 11)


class VenueStatements:
    dialect: Dialect
    marks: EpochMarks | None = (
        None  # the console's marks (console/epoch_marks.py), set at its start
    )

    if TYPE_CHECKING:

        async def _write(
            self, job: Callable[[Cursor], Awaitable[T]], *, rank: int = FIRST
        ) -> T: ...

        async def _read(self, job: Callable[[Cursor], Awaitable[T]]) -> T: ...

    async def add_venue(self, venue_id: str, name: str, token_hash: str) -> None:
        check_venue_id(venue_id)
        check_token_hash(token_hash)
        if not isinstance(name, str) or not name.strip():
            raise StoreError("a venue needs a non-empty name")

        async def job(cur: Cursor) -> None:
            taken = await cur.fetchall(
                "SELECT id, token_hash = ? FROM venues WHERE id = ? OR token_hash = ?",
                (token_hash, venue_id, token_hash),
            )
            if any(row[0] == venue_id for row in taken):
                raise StoreError(f"venue {venue_id!r} already exists")
            if taken:
                raise StoreError("that token is already in use by another venue")
            await cur.execute(
                "INSERT INTO venues (id, name, token_hash, created_at_ms) VALUES (?, ?, ?, ?)",
                (venue_id, name, token_hash, now_ms()),
            )

        await self._write(job, rank=LATER)  # no relay waits for it: appends go first

    async def venue_epoch(self, venue_id: str) -> int | None:
        """The console's *epoch* for ``venue_id`` (``sync/_epoch.py``): when this database registered
        it (ms), made with the database and kept in it, new in a new one, or the later one a
        console set when it found the database had gone backwards (:meth:`start_epoch`); None for a
        venue it does not hold."""
        rows = await self._read(
            lambda cur: cur.fetchall(f"SELECT {_EPOCH} FROM venues WHERE id = ?", (venue_id,))
        )
        return int(rows[0][0]) if rows else None

    async def start_epoch(self, venue_id: str) -> int | None:
        """The epoch a console signs at the venue's load: :meth:`venue_epoch`, or a new one when the
        database went backwards since this console's marks (``console/epoch_marks.py``: its count
        below the mark, or no mark). The new one is set only if no other process sharing the database
        set one meanwhile (compare-and-set): processes noticing it at once sign the same."""
        marks = self.marks
        if marks is None:  # (a console without marks: a test's, a tool's) the stored epoch
            return await self.venue_epoch(venue_id)

        async def job(cur: Cursor) -> tuple[int, int] | None:
            rows = await cur.fetchall(
                f"SELECT {_EPOCH}, taken FROM venues WHERE id = ?", (venue_id,)
            )
            if not rows:
                return None
            epoch, taken = int(rows[0][0]), int(rows[0][1])
            mark = marks.floor(venue_id)
            if mark is not None and (mark.epoch != epoch or taken >= mark.taken):
                return epoch, taken  # as left, or renewed since (by another process, a new db)
            new = max(now_ms(), epoch + 1)
            await cur.execute(
                f"UPDATE venues SET epoch_ms = ? WHERE id = ? AND {_EPOCH} = ?",
                (new, venue_id, epoch),
            )
            rows = await cur.fetchall(f"SELECT {_EPOCH} FROM venues WHERE id = ?", (venue_id,))
            return int(rows[0][0]), taken

        found = await self._write(job, rank=LATER)
        if found is None:
            return None
        epoch, taken = found
        await marks.reset(venue_id, epoch, taken)
        return epoch

    async def mark_heard(self, venue_id: str) -> None:
        """Mark the database's count before this process applies (and so states) what another
        process sharing the database committed (``VenueHub.apply_stored``)."""
        if self.marks is None:
            return
        rows = await self._read(
            lambda cur: cur.fetchall("SELECT taken FROM venues WHERE id = ?", (venue_id,))
        )
        if rows:
            await self.marks.reach(venue_id, int(rows[0][0]))

    async def settle_marks(self) -> None:
        """At a clean stop: the marks become the database's counts (``EpochMarks.settle``)."""
        if self.marks is None or not self.marks.marks:
            return
        rows = await self._read(lambda cur: cur.fetchall("SELECT id, taken FROM venues", ()))
        await self.marks.settle({str(venue): int(taken) for venue, taken in rows})

    async def mark_taken(self, cur: Cursor, venue_id: str) -> int:
        """Count one more append of ``venue_id`` (in the append's transaction): its count after."""
        rows = await cur.fetchall(
            "UPDATE venues SET taken = taken + 1 WHERE id = ? RETURNING taken", (venue_id,)
        )
        return int(rows[0][0]) if rows else 0

    async def venue_for_token(self, token: str) -> str | None:
        if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
            return None
        wanted = hash_token(token)
        rows = await self._read(
            lambda cur: cur.fetchall(
                "SELECT id, token_hash FROM venues WHERE token_hash = ?", (wanted,)
            )
        )
        for venue_id, stored in rows:
            if same_hash(stored, wanted):
                return str(venue_id)
        return None

    async def token_hash_of(self, venue_id: str) -> str | None:
        """The hash of ``venue_id``'s relay token, or None for a venue this database does not hold."""
        rows = await self._read(
            lambda cur: cur.fetchall("SELECT token_hash FROM venues WHERE id = ?", (venue_id,))
        )
        return str(rows[0][0]) if rows else None

    async def venue_ca_of(self, venue_id: str) -> str | None:
        """The venue CA's fingerprint ``venue_id`` belongs to (``trust.ca_fingerprint``), or None
        for a venue registered before schema 10 (or by no directory) that has not learned it yet."""
        rows = await self._read(
            lambda cur: cur.fetchall("SELECT venue_ca FROM venues WHERE id = ?", (venue_id,))
        )
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    async def learn_venue_ca(self, venue_id: str, venue_ca: str) -> str:
        """Keep ``venue_ca`` as the CA ``venue_id`` belongs to unless it has one already; the CA
        it belongs to after (the first one learned: two console processes starting at once agree)."""

        async def job(cur: Cursor) -> str:
            await cur.execute(
                "UPDATE venues SET venue_ca = ? WHERE id = ? AND venue_ca IS NULL",
                (venue_ca, venue_id),
            )
            rows = await cur.fetchall("SELECT venue_ca FROM venues WHERE id = ?", (venue_id,))
            if not rows:
                raise StoreError(f"unknown venue {venue_id!r}")
            return str(rows[0][0])

        return await self._write(job, rank=LATER)

    async def replace_token(self, venue_id: str, token_hash: str) -> None:
        """Take ``token_hash`` as ``venue_id``'s relay token from now on (the old one is refused)."""
        check_token_hash(token_hash)

        async def job(cur: Cursor) -> None:
            taken = await cur.fetchall(
                "SELECT id FROM venues WHERE token_hash = ? AND id <> ?", (token_hash, venue_id)
            )
            if taken:
                raise StoreError("that token is already in use by another venue")
            await cur.execute(
                "UPDATE venues SET token_hash = ? WHERE id = ?", (token_hash, venue_id)
            )

        await self._write(job, rank=LATER)  # no relay waits for it: appends go first

    async def take_relay_nonce(self, venue_id: str, nonce: str) -> bool:
        """Take the console ``nonce`` a relay's upgrade signed (its proof checked already, so only a
        device of the venue adds a row); False when it was taken before, by any console process
        sharing the database or by this one before a restart: a replayed proof. The key refuses
        the second take (two processes taking it at once: the second waits for the first's commit).
        Rows taken over ``NONCE_KEPT_S`` ago by the database's clock go, ``NONCE_PURGE_BATCH`` at
        most per take (each take adds one: the table holds about the last ``NONCE_KEPT_S``'s
        upgrades, and no take waits on a big delete)."""
        now = self.dialect.now_ms

        async def job(cur: Cursor) -> bool:
            await cur.execute(
                "DELETE FROM relay_nonces WHERE (venue_id, nonce) IN (SELECT venue_id, nonce "
                f"FROM relay_nonces WHERE taken_ms < {now} - ? ORDER BY taken_ms LIMIT ?)",
                (int(NONCE_KEPT_S * 1000), NONCE_PURGE_BATCH),
            )
            added = await cur.execute(
                "INSERT INTO relay_nonces (venue_id, nonce, taken_ms) "
                f"VALUES (?, ?, {now}) ON CONFLICT (venue_id, nonce) DO NOTHING",
                (venue_id, nonce),
            )
            return added == 1

        return await self._write(job)

    async def check_writes(self) -> None:
        """A row of no venue added and taken away in one transaction: pages written and committed,
        nothing left (console/health.py)."""

        async def job(cur: Cursor) -> None:
            row = ("", f"health check of process {os.getpid()}")
            await cur.execute(
                "INSERT INTO relay_nonces (venue_id, nonce, taken_ms) VALUES (?, ?, 0) "
                "ON CONFLICT (venue_id, nonce) DO NOTHING",
                row,
            )
            await cur.execute("DELETE FROM relay_nonces WHERE venue_id = ? AND nonce = ?", row)

        await self._write(job, rank=LATER)  # no relay waits for it: appends go first
