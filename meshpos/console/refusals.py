"""What the console's relay port refused, counted, kept and logged at a bounded rate.

Apart from :mod:`meshpos.console.server` because it is one concern with its own state: anyone can
knock on the relay port and chooses what the refusal says (a path, a venue name, a proof), so a
refusal is counted always, kept among the last 50, and logged once per address and reason and at most
:data:`REFUSAL_LOG_LINES` times per :data:`REFUSAL_LOG_WINDOW_S` in all (issue 18, admit: a flood
varying its path logged every knock); the next line logged says how many went unlogged.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

log = logging.getLogger("meshpos.console")

MAX_LOGGED_REFUSALS = 1024  # (address, reason) pairs remembered as logged
# at most this many refusal lines per REFUSAL_LOG_WINDOW_S, whatever their addresses and reasons (a
# knocker chooses both: a path, a venue name): the rest are counted, and the next line says how many
REFUSAL_LOG_LINES = 20
REFUSAL_LOG_WINDOW_S = 10.0
# at most this many refused knocks' proofs checked per REFUSAL_LOG_WINDOW_S (two signature checks each,
# asked by anyone): beyond it a wrong token's knock names no device (the status stays "not reachable")
PROOF_CHECKS = 50


class Refusals:
    """The console's refusals of relays and knockers: ``counts`` by kind (GET /metrics), ``recent``
    lines, and the rate-limited log."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.recent: list[str] = []
        self._logged: set[tuple[str, str]] = set()
        self._window = (0.0, 0)  # when the log's window began, lines logged in it
        self._unlogged = 0  # refusals not logged for the window's limit since the last line
        self._checks = (0.0, 0)  # when the checks' window began, proofs checked in it

    def may_check(self) -> bool:
        """Whether a refused knock's proof may be checked now (:data:`PROOF_CHECKS` per window)."""
        now = time.monotonic()
        began, checked = self._checks
        if now - began >= REFUSAL_LOG_WINDOW_S:
            began, checked = now, 0
        self._checks = began, checked + 1
        return checked < PROOF_CHECKS

    def __call__(self, address: str, kind: str, reason: str) -> None:
        self.counts[kind] += 1
        line = f"refused {address}: {kind}: {reason}"
        self.recent.append(line)
        del self.recent[:-50]
        # once per address and reason: a misconfigured relay probes again and again, and anyone can
        # knock; the rest are counted and kept in recent. And a few per window in all
        if (address, reason) in self._logged:
            return
        now = time.monotonic()
        began, lines = self._window
        if now - began >= REFUSAL_LOG_WINDOW_S:
            began, lines = now, 0
        if lines >= REFUSAL_LOG_LINES:
            self._unlogged += 1
            return
        self._window = began, lines + 1
        if len(self._logged) >= MAX_LOGGED_REFUSALS:
            self._logged.clear()
        self._logged.add((address, reason))
        unlogged, self._unlogged = self._unlogged, 0
        more = f"; {unlogged} other refusals before it only counted" if unlogged else ""
        log.warning("%s (further ones from there are only counted%s)", line, more)
