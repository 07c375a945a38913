"""Giving memory back to the operating system after a business day is unloaded.

Dropping a day's documents frees pycrdt's (Rust) allocations and the Python objects that referred to
them, but glibc keeps freed heap pages mapped for reuse, so the process's RSS would stay at its high-water
mark: a register that unloaded a day of 100,000 sales would look as big as while it held it. A full
garbage collection (reference cycles between the model's objects and their documents) followed by
glibc's ``malloc_trim(0)`` returns the freed pages. Other C libraries (musl, macOS) have no
``malloc_trim``; there the collection alone runs. ``malloc_trim`` walks every glibc arena, the store's
connection threads' included, so which thread calls it does not matter.

``tune_allocator()`` (run once per process by the node's and the console's start) fixes glibc's mmap and
trim thresholds at 128 KiB, their defaults. Left alone, glibc raises both after every large free (up to
32 and 64 MiB): a day's big blocks (its update rows read for a compaction, a merged snapshot, a load)
then come from the heap of whichever thread allocated them (aiosqlite's connection threads, the merge's
worker) instead of mappings of their own, and there ``malloc_trim`` gave only part of them back (the
exact mechanism was not isolated: a plain thread's freed blocks are returned). Measured with
``meshpos bench leak --live`` (docs/benchmarks.md, leak): a day of 15,000 sales sold in the node left
26-62 MB after its close, 7-68 MB of it in threads' heaps; with the thresholds fixed 18 MB, 1.4 MB in
threads' heaps. Fixed thresholds cost an ``mmap``/``munmap`` per block of 128 KiB or more. Not tuned,
because measured worse: ``M_ARENA_MAX=1`` (every thread in the main heap: the day's blocks interleave
with long-lived ones, 52 MB left). What was left was Python's small-object allocator
(pymalloc): it returns a 1 MiB arena only once every object in it is freed, and the few hundred
long-lived objects made during a day sold live (CPython's freelists and ABC caches, asyncio's and
sqlite3's bookkeeping, SQLite's cached statements, the status's latest sale...) sit among the day's
objects in nearly every arena the day used: ~97 MB after a day of 100,000 sales, ~21 MB at 20,000.
Two causes were removed (``business_date`` no longer calls ``astimezone``, which left objects inside
zoneinfo all day; ``release_memory`` empties CPython's method cache, which kept the names pycrdt builds
per insert), but the rest is a long tail inside CPython. So ``meshpos node`` and ``meshpos console``
run with Python's objects on glibc's ``malloc`` (``PYTHONMALLOC=malloc``, :func:`meshpos.allocator.run_with_object_allocator`),
where the same survivors pin a 4 KiB page each and ``malloc_trim`` returns the rest: after 100,000
live sales 4.8-5.1 MB is left instead of 99.7 MB, for ~10-15% more CPU per sale (docs/benchmarks.md,
leak). An earlier
measurement of it (62 MB at 15,000, most of it in the store threads' heaps) fits a run before the
thresholds were fixed.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import sys
from functools import cache

from meshpos.allocator import libc, malloc_trim

log = logging.getLogger("meshpos.engine")


_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
FIXED_THRESHOLD = 128 << 10  # glibc's default for both, kept from being raised


@cache
def tune_allocator() -> bool:
    """Fix glibc's mmap and trim thresholds (see the module's docstring); True if glibc took them.

    Once per process (later calls return the first answer); other C libraries have no ``mallopt``."""
    found = libc()
    mallopt = getattr(found, "mallopt", None) if found is not None else None
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = [mallopt(p, FIXED_THRESHOLD) for p in (_M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD)]
    if not all(done):
        log.warning(
            "glibc refused the fixed malloc thresholds: freed memory may stay in the process"
        )
    return all(done)


def release_memory(*, since_start: bool = False) -> bool:
    """Collect garbage and return freed heap pages to the OS; True if ``malloc_trim`` ran.

    Blocking (a full collection walks every object): the engine runs it in a thread after an unload.

    What survives the collection is then frozen (``gc.freeze``): the open day and everything made at
    start-up, which the collector's oldest generation otherwise walks again every few hundred sales
    (20-45 ms on a 5,000-receipt day; a sale it lands in waits that long). Objects made later are
    collected as always; the frozen ones are freed by reference counting as always, and cycles among
    them at the next call (a day closing, a venue unloading), which unfreezes first.

    ``since_start``: a node's start froze what existed before it (its program's modules, an embedding
    program's objects) and collects only what it made since, not every object of the process (25-90
    ms that a register restarting into a backlog waited for; issue 18, catch-up); its stop unfreezes.
    """
    # CPython's method cache keeps the last name looked up in each of its 4,096 slots (a strong
    # reference): pycrdt builds its method names per insert (``f"{action}_{type}_prelim"``), so a
    # day leaves a few hundred such strings among its objects, each pinning a 1 MiB pymalloc arena.
    sys._clear_type_cache()
    if not since_start:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    trim = malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
