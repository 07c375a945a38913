"""The first SIGTERM or SIGINT stops a long-running command gracefully; the ones after it do nothing.

``meshpos node`` and ``meshpos console`` stop on SIGTERM (a service manager, ``kill``) or SIGINT
(Ctrl-C): they say goodbye to their peers, commit what is left and close their stores. They took
the signals with ``loop.add_signal_handler``, which the event loop undoes when it closes: a second
signal in the moment between the graceful stop's end and the process's exit (the loop's close and
the interpreter's finalisation, ~0.2 s on a loaded machine) found the default action, and the
process ended killed by it (-15) instead of 0, though its data was committed: an operator's second
Ctrl-C, a script's ``kill`` sent twice, a supervisor's repeated stop read it as a crash.
**Changed** (nineteenth session, robust): the signals are taken by a Python handler the loop does not own;
the first one asks the stop (``stop.set`` on the loop) and from then on both are ignored to the
process's end, so the graceful stop runs to its end and the exit status is the command's own
(``tests/mesh/test_double_sigterm.py``). A stop that hangs is ended by SIGKILL, as before (systemd's
``TimeoutStopSec``). Python runs signal handlers in the main thread, which Linux wakes for a signal
sent to the process (the main thread does not block them), so the first signal is taken at once.
Ignored, not a Python handler that does nothing: the interpreter resets its own handlers to the
default action as it finalises (the window again), an ignored signal it leaves. A process started
after the first signal inherits the ignoring: the only one a node starts, the compaction helper
(``store.merger``), is stopped by its closed stdin, and a SIGKILL ends both.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from types import FrameType

#: the signals that stop a command
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_on_signal(stop: asyncio.Event) -> None:
    """Set ``stop`` (an event of the running loop) on the first SIGTERM or SIGINT; ignore both
    after it, to the end of the process. Call it from the loop's thread, the main thread."""
    loop = asyncio.get_running_loop()

    def first(signum: int, frame: FrameType | None) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        # (a loop that closed already: the command is ending by itself, with its own status)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stop.set)

    for sig in STOP_SIGNALS:
        signal.signal(sig, first)
