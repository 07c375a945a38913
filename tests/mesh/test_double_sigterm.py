"""A second SIGTERM (or Ctrl-C) while ``meshpos node`` or ``meshpos console`` stops (nineteenth session, robust).

The first signal starts a graceful stop (goodbyes, the last commits, the store closed); the signals
were the event loop's (``loop.add_signal_handler``), which it undoes when it closes, so one more in
the moment between the stop's end and the process's exit killed it (-15) with its data committed:
an operator's second Ctrl-C or a script's ``kill`` twice read as a crash. Now the signals after the
first are ignored (``meshpos/stop_signals.py``). Real processes: each is sent SIGTERM without pause
(through a pidfd: never another process that took the id) from the first one until it exits, so
the window is hit whatever the load; it must exit 0, and the node's sale is there after a restart.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from pathlib import Path

from meshpos.model.sample import CASHIER

from .kit import ConsoleProcess, NodeProcess, _blocking, make_device, make_venue

NO_MDNS = ["--no-discovery"]


def _terminated_again_and_again(pid: int, sig: signal.Signals) -> threading.Event:
    """Send ``sig`` to ``pid`` at once and then every millisecond until it exits (its pidfd: a
    process that has exited is not signalled, nor another that took its id). Set when done."""
    pidfd = os.pidfd_open(pid)
    done = threading.Event()

    def barrage() -> None:
        try:
            while True:
                signal.pidfd_send_signal(pidfd, sig)
                time.sleep(0.001)
        except ProcessLookupError:
            pass  # (it exited)
        finally:
            os.close(pidfd)
            done.set()

    threading.Thread(target=barrage, daemon=True).start()
    return done


def test_a_node_signalled_again_while_it_stops_exits_cleanly_with_its_sale(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    host = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.13"
    config = make_device(authority, tmp_path, "R1", host=host)
    node = NodeProcess(config, tmp_path / "R1.log", args=NO_MDNS).start()
    try:
        node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        sold = node.sell(CASHIER, ["espresso"])
        proc = node.proc
        assert proc is not None
        done = _terminated_again_and_again(proc.pid, signal.SIGTERM)
        assert _blocking(proc.wait()) == 0
        assert done.wait(10.0)
        assert "node R1 stopped" in (tmp_path / "R1.log").read_text()
        node.start()
        assert sold["id"] in node.receipt_ids()  # (acknowledged, so committed: after any exit)
        assert node.stop() == 0
    finally:
        node.kill()


def test_a_console_interrupted_again_while_it_stops_exits_cleanly(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    console = ConsoleProcess(tmp_path, [authority.directory]).start()
    try:
        proc = console.proc
        assert proc is not None
        done = _terminated_again_and_again(proc.pid, signal.SIGINT)  # (Ctrl-C held down)
        assert _blocking(proc.wait()) == 0
        assert done.wait(10.0)
    finally:
        with contextlib.suppress(Exception):
            console.stop()
