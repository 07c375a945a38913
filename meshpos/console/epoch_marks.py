"""The highest point of each venue's database the console has stated, kept outside the database, so a
console started on a database that went backwards (a restored backup) signs a new epoch (the
twenty-fourth session, part ``operator``; ``sync/_epoch.py``).

The console's epoch (``ConsoleDB.venue_epoch``) told registers which database it runs on; a restored
backup kept the epoch it had when the backup was taken, so a register that kept running stood by the
console clocks it had been told (sales written after the backup) and could say "All data is synced"
while the restored console lacked them (README said: restart every register).

Now the database counts, per venue, every append it takes in (``venues.taken``, schema 11, in the
append's own transaction), and after each commit, before the console applies it to the documents its
statements read, the mark here is at least that count (a small JSON file beside the console's admin
token, replaced atomically and fsynced; written ``AHEAD`` appends ahead, so one commit in ``AHEAD``
waits for a write, and set to the database's counts at a clean stop). At a venue's load the console
compares: a database on the mark's epoch whose count is below it (it went backwards), or a venue
without a mark (a new PC given a restored file, or the first start of this version), gets a **new
epoch** (``venues.epoch_ms``: a register forgets what the console told it and judges again; needless
only costs a re-judgement: so does a start after a crash, whose marks were ahead). A database on
another epoch than the mark's is signed as it is: a register that heard this console's epoch forgets
at the change. The mark then becomes the epoch signed and the database's count. Several processes on
one PostgreSQL database compare each with its own marks and set a new epoch by compare-and-set
(``VenueStatements.start_epoch``): processes that notice it at once agree on one, and one starting
after another set it finds another epoch than its mark's and signs that one.

What it cannot see: a marks file put back together with the database (``sqlite3 .backup`` and
``pg_dump`` copy the database alone; a copy of the whole folder would carry the file: README says
never to put an old one back); a console killed between a commit and the mark's write whose database
is then replaced by a backup older than that commit (the statements of that moment may have claimed
it: the window is one commit in ``AHEAD``); a backup from before an earlier new epoch restored while a
register that missed that epoch keeps running.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import NamedTuple

from meshpos.errors import ConfigError, StoreError
from meshpos.trust._files import write_file

MARKS_FILE = "console-marks.json"  # beside the console's admin token (its data directory)
AHEAD = 256  # appends marked at once: at a venue's 10 commits a second, one write in 25 s


class Mark(NamedTuple):
    epoch: int  # the epoch this console signed for the venue
    taken: int  # the database's append count it last reached under it


class EpochMarks:
    """Venue id -> the epoch this console signed and the database's count it last reached (and so
    may have stated) under it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.marks: dict[str, Mark] = _read(path)
        self._wanted: dict[str, Mark] = dict(self.marks)
        self._reached: dict[str, int] = {}  # venue -> the highest count this process reached
        self._lock = asyncio.Lock()

    def held(self, venue_id: str) -> Mark | None:
        """The venue's mark, or None: this console has stated nothing of it with these marks."""
        return self.marks.get(venue_id)

    def floor(self, venue_id: str) -> Mark | None:
        """What a load compares the database with: the mark, or, once this process reached the
        venue's count itself, that count (the mark is ahead: a venue unloaded while idle and loaded
        again keeps its epoch)."""
        mark = self.marks.get(venue_id)
        reached = self._reached.get(venue_id)
        return mark if mark is None or reached is None else mark._replace(taken=reached)

    async def reach(self, venue_id: str, taken: int) -> None:
        """Mark ``taken`` (the database's count after a commit) before anything states it, by
        ``AHEAD`` more at once: a commit within the mark writes nothing (one write every ``AHEAD``
        commits; each cost a file's fsync, ~12 ms, measured in the report). A venue not loaded
        (its load, :meth:`reset`, marks it first) is not marked."""
        wanted = self._wanted.get(venue_id)
        if wanted is not None:
            self._reached[venue_id] = max(taken, self._reached.get(venue_id, 0))
        if wanted is None or taken <= wanted.taken:
            done = self.marks.get(venue_id)
            if done is None or taken <= done.taken:
                return
        else:
            self._wanted[venue_id] = wanted._replace(taken=taken + AHEAD)
        async with self._lock:
            done = self.marks.get(venue_id)
            if done is not None and taken <= done.taken:
                return  # (written by the write this one waited for)
            await self._write(dict(self._wanted))

    async def settle(self, counts: dict[str, int]) -> None:
        """The database's counts as the marks, at a clean stop (nothing appends any more): a
        restart on the same database then signs the same epoch; after a crash the marks are ahead
        of it, and the next start signs a new one (needless: a re-judgement)."""
        async with self._lock:
            for venue_id, taken in counts.items():
                mark = self._wanted.get(venue_id)
                if mark is not None:
                    self._wanted[venue_id] = mark._replace(taken=taken)
            await self._write(dict(self._wanted))

    async def reset(self, venue_id: str, epoch: int, taken: int) -> None:
        """The epoch signed at the venue's load and the database's count then, lower or not (a
        database gone backwards got a new epoch, and its count rises from there)."""
        async with self._lock:
            self._wanted[venue_id] = Mark(epoch, taken)
            self._reached[venue_id] = taken
            await self._write(dict(self._wanted))

    async def _write(self, wanted: dict[str, Mark]) -> None:
        text = json.dumps({v: list(m) for v, m in wanted.items()}, sort_keys=True)
        try:
            await asyncio.to_thread(write_file, self.path, text + "\n")
        except OSError as exc:  # (a full disk, a folder made read-only): the caller's link drops
            raise StoreError(
                f"{self.path}: cannot write the console's epoch marks ({exc.strerror or exc}); "
                "without them a restored database cannot be told from this one: free the disk "
                "or give the console's user that folder"
            ) from None
        self.marks = wanted


def _read(path: Path) -> dict[str, Mark]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the console's epoch marks: {exc}") from None
    try:
        marks = json.loads(text)
    except ValueError:
        marks = None
    if not isinstance(marks, dict) or not all(
        isinstance(k, str)
        and isinstance(m, list)
        and len(m) == 2
        and all(type(n) is int and n >= 0 for n in m)
        for k, m in marks.items()
    ):
        raise ConfigError(
            f"{path}: not the console's epoch marks (a JSON object of venue ids and [epoch, "
            "count]); remove it to start again (each venue then gets a new epoch: its registers "
            "judge again)"
        )
    return {k: Mark(*m) for k, m in marks.items()}
