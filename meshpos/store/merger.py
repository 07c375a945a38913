"""Compaction merges in a helper process, so the register's event loop keeps serving the cashier.

pycrdt holds the GIL for the whole of ``merge_updates``: folding a busy day's log and segments (megabytes)
from the writer's thread stopped the event loop for 100-200 ms, and the sale in flight waited that long.
A merge above ``INLINE_BYTES`` therefore runs in a helper process (``store._merge_helper``: started with the
node's store or at the first such merge, stopped with the store; it imports the store package, not the
node, network or web code); smaller merges stay inline, where the round trip would cost more than the
merge. A helper found dead is replaced; one that fails mid-request leaves that merge to run inline:
compaction is never lost, only slower.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Sequence

from meshpos.store._merge_helper import read_int, read_part, write_parts
from meshpos.store.base import StoreStats, fold

log = logging.getLogger(__name__)

INLINE_BYTES = 256 << 10  # below this a merge takes a few milliseconds: not worth a process hop


class Merger:
    """``fold`` (see store.base) run in a helper process when the input is large. Thread-safe."""

    def __init__(self, stats: StoreStats, *, inline_bytes: int = INLINE_BYTES) -> None:
        self.inline_bytes = inline_bytes
        self._stats = stats
        self._helper: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._closed = False

    def fold(
        self, segments: Sequence[bytes], log_rows: Sequence[bytes], *, full: bool
    ) -> tuple[int, bytes]:
        size = sum(map(len, segments)) + sum(map(len, log_rows))
        if size < self.inline_bytes:
            return fold(segments, log_rows, full=full)
        with self._lock:
            if self._closed:
                return fold(segments, log_rows, full=full)
            try:
                result = self._ask(segments, log_rows, full)
            except (OSError, EOFError, ValueError) as exc:
                log.warning("compaction helper process failed (%s); merging inline this time", exc)
                self._stop()
                return fold(segments, log_rows, full=full)
        self._stats.helper_merges += 1
        return result

    def start(self) -> None:
        """Start the helper now rather than at the first big merge: a node does it at start-up, when
        nobody waits, instead of in the middle of the rush that filled its log (and at the same moment
        as every other register of the venue, which saw the same updates)."""
        with self._lock:
            if self._closed:
                return
            try:
                self._running()
            except OSError as exc:  # merges then run inline, and the next one tries again
                log.warning("cannot start the compaction helper process: %s", exc)

    def _running(self) -> subprocess.Popen[bytes]:
        if self._helper is None or self._helper.poll() is not None:
            self._helper = subprocess.Popen(
                # not ``-m``: the package imports this module before runpy runs it, and Python warned
                # about that on every node's stderr, in front of the one line an operator reads
                [sys.executable, "-c", "from meshpos.store._merge_helper import main; main()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        return self._helper

    def _ask(
        self, segments: Sequence[bytes], log_rows: Sequence[bytes], full: bool
    ) -> tuple[int, bytes]:
        helper = self._running()
        assert helper.stdin is not None
        assert helper.stdout is not None
        write_parts(helper.stdin, [int(full), len(segments), len(log_rows)], [*segments, *log_rows])
        absorbed = read_int(helper.stdout)
        if absorbed is None:
            raise EOFError(f"the helper exited (code {helper.wait()})")
        return absorbed, read_part(helper.stdout)

    def _stop(self) -> None:
        helper, self._helper = self._helper, None
        if helper is None:
            return
        for stream in (helper.stdin, helper.stdout):
            if stream is not None:
                stream.close()
        try:
            helper.wait(timeout=5)
        except subprocess.TimeoutExpired:
            helper.kill()
            helper.wait()

    def close(self) -> None:
        """Stop the helper (after a merge in flight finishes). Later merges run inline."""
        with self._lock:
            self._closed = True
            self._stop()
