"""How meshpos logs for the people who run it: one line per distinct problem, then a count.

docs/architecture.md (Operations). A venue's IT person reads a register's log when something is wrong, and a
chain's operations team ships hundreds of them to one place; both need the log to say each distinct problem
once, not the same line a thousand times. An attacker controls the volume of some problems (anyone on the LAN
can knock on the mesh port or the console), and a misconfigured device repeats its one problem for hours (a
wrong console token is refused on every retry), so:

* :class:`RepeatFilter` lets the first problem (WARNING and above) of each kind through and counts the
  repeats for ``window_s`` seconds; when the window ends and the problem is still there, one line says how
  many more there were (``... (41 more like this in the last 300 s)``) and the next window begins. INFO
  lines (the relay moved, a link opened, a day closed) pass: their order tells what happened. A kind is the logger, the
  level, the message template and its text arguments, with the port taken out of any ``address:port`` (a
  flood comes from ever new source ports of one peer) and numbers left out (a backoff that doubles is the
  same problem); a caller may name the kind itself with ``extra={LIMIT_KEY: (reason, peer)}``. At most
  ``max_kinds`` kinds are tracked, so memory stays bounded whatever the attacker varies; records of further
  new kinds while that many are live are counted and said in one line when room comes back.
* Routine traffic is DEBUG: the websockets library says INFO for every HTTP answer (each relay probe of the
  console) and every connection; :func:`setup_logging` keeps it below WARNING unless the level is DEBUG.
* ``--log-format json`` writes one JSON object per line (``time``, ``level``, ``logger``, ``message``, and
  ``repeated`` on a count line, ``exception`` with a traceback) for log shippers.
"""

from __future__ import annotations

import atexit
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LIMIT_KEY = (
    "limit_key"  # extra={LIMIT_KEY: (reason, peer)}: the kind of a record, said by its caller
)
WINDOW_S = 300.0
MAX_KINDS = 256
ROUTINE_LOGGERS = (
    "websockets",
)  # INFO for every HTTP answer and connection: routine, shown at DEBUG

_ADDRESS_PORT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):\d{1,5}\b")
_REPEATED = "_meshpos_repeated"  # set on the count lines the filter makes: they pass it
_OURS = "_meshpos_handler"  # set on the handler setup_logging installs
_installed: list[RepeatFilter] = []  # the filter of that handler, flushed at exit


@dataclass(slots=True)
class _Kind:
    since: float  # when its window began
    example: logging.LogRecord  # the record that opened it
    repeats: int = 0  # records of this kind held back in the window


def kind_of(record: logging.LogRecord) -> Hashable:
    """What makes two records "the same problem" (see the module's docstring)."""
    given = getattr(record, LIMIT_KEY, None)
    if given is not None:
        return (record.name, record.levelno, given)
    args = record.args if isinstance(record.args, tuple) else (record.args,)
    texts = tuple(
        _ADDRESS_PORT.sub(r"\1", a) if isinstance(a, str) else None
        for a in args
        if not isinstance(a, int | float)
    )
    return (record.name, record.levelno, str(record.msg), texts)


class RepeatFilter(logging.Filter):
    """A handler's filter that passes the first record of each kind per window and counts the rest.

    Count lines go out through ``emit`` (the handler's ``handle``) when a window ends and a later record
    arrives, or on :meth:`flush` (at exit). Thread-safe: the node logs from its event loop and from the
    store's threads."""

    def __init__(
        self,
        emit: Callable[[logging.LogRecord], Any],
        *,
        window_s: float = WINDOW_S,
        max_kinds: int = MAX_KINDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.window_s = window_s
        self.max_kinds = max_kinds
        self._emit = emit
        self._clock = clock
        self._kinds: dict[Hashable, _Kind] = {}
        self._overflow = 0  # records of new kinds held back while max_kinds were live
        self._overflow_example: logging.LogRecord | None = None
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _REPEATED, False):
            return True  # a count line
        # INFO, the node's changes of state (relay, links, days), whose order a person reads, comes at
        # the pace of those changes, and DEBUG was asked for to see everything: both pass (and say the
        # counts of windows that ended)
        limited = record.levelno >= logging.WARNING
        key = kind_of(record) if limited else None
        with self._lock:
            now = self._clock()
            due = self._end_windows(now)
            kind = self._kinds.get(key) if limited else None
            if not limited:
                passed = True
            elif kind is not None:
                kind.repeats += 1
                passed = False
            elif len(self._kinds) < self.max_kinds:
                self._kinds[key] = _Kind(now, record)
                passed = True
            else:
                self._overflow += 1
                self._overflow_example = self._overflow_example or record
                passed = False
        for line in due:
            self._emit(line)
        return passed

    def flush(self) -> None:
        """Say every count now (at exit: what was held back must not vanish with the process)."""
        with self._lock:
            due = self._end_windows(self._clock(), force=True)
        for line in due:
            self._emit(line)

    def _end_windows(self, now: float, *, force: bool = False) -> list[logging.LogRecord]:
        """The count lines of the windows that ended by ``now``; kinds with no repeats are forgotten,
        the others begin a new window (the problem is still there)."""
        due = []
        for key, kind in list(self._kinds.items()):
            if now - kind.since < self.window_s and not force:
                continue
            if kind.repeats:
                due.append(_count_line(kind.example, kind.repeats, now - kind.since))
                self._kinds[key] = _Kind(now, kind.example)
            else:
                del self._kinds[key]
        if self._overflow and (len(self._kinds) < self.max_kinds or force):
            assert self._overflow_example is not None
            line = _count_line(self._overflow_example, self._overflow, self.window_s)
            line.msg = "%d log lines of other kinds were held back (over %d kinds at once)"
            line.args = (self._overflow, self.max_kinds)
            due.append(line)
            self._overflow, self._overflow_example = 0, None
        return due


def _count_line(example: logging.LogRecord, repeats: int, seconds: float) -> logging.LogRecord:
    try:
        text = example.getMessage()
    except Exception:  # its arguments did not fit its template: the handler said so at the time
        text = str(example.msg)
    line = logging.makeLogRecord(example.__dict__)
    line.msg = "%s (%d more like this in the last %.0f s)"
    line.args = (text, repeats, seconds)
    line.exc_info = line.exc_text = None  # the first line carried the traceback
    line.created = time.time()
    setattr(line, _REPEATED, True)
    line.repeated = repeats
    return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers (``--log-format json``)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        repeated = getattr(record, "repeated", None)
        if isinstance(repeated, int):
            out["repeated"] = repeated
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(
    level: str,
    log_format: str = "text",
    *,
    stream: TextIO | None = None,
    window_s: float = WINDOW_S,
    force: bool = False,
) -> RepeatFilter | None:
    """The process's logging: one handler on the root logger (stderr) with the repeat filter and the
    chosen format; routine traffic below WARNING unless ``level`` is DEBUG. Returns the filter.

    Like ``logging.basicConfig``, it leaves a root logger someone else gave handlers alone (an app or a
    test calling :func:`meshpos.cli.main`): only the levels are set, and None is returned, unless
    ``force``. A handler it installed before is replaced."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r}: must be one of {', '.join(LOG_FORMATS)}")
    root = logging.getLogger()
    if not force and any(not getattr(h, _OURS, False) for h in root.handlers):
        set_level(level)
        return None
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    repeats = RepeatFilter(handler.handle, window_s=window_s)
    handler.addFilter(repeats)
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    set_level(level)
    if not _installed:
        atexit.register(_flush_at_exit)  # runs before logging's own shutdown (registered earlier)
    _installed[:] = [repeats]
    return repeats


def _flush_at_exit() -> None:
    for repeats in _installed:
        repeats.flush()


def set_level(level: str) -> None:
    """The root level (a node's config may set it after start-up); routine loggers follow it at
    DEBUG only."""
    name = level.upper()
    logging.getLogger().setLevel(name)
    routine = logging.DEBUG if name == "DEBUG" else logging.WARNING
    for logger in ROUTINE_LOGGERS:
        logging.getLogger(logger).setLevel(routine)
