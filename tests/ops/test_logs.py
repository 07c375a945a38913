"""The log says each distinct problem once, then how many more there were (meshpos.ops.logs)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpos.allocator import command_word
from meshpos.harness.procs import Proc
from meshpos.ops.logs import LIMIT_KEY, RepeatFilter, setup_logging

from ..mesh.kit import make_device, make_venue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Logged = tuple[logging.Logger, list[str], Clock, RepeatFilter]


@pytest.fixture
def logged() -> Iterator[Logged]:
    """A logger whose handler has a repeat filter on a fake clock; the lines it wrote."""
    lines: list[str] = []
    clock = Clock()

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                lines.append(record.getMessage())
            except Exception:
                self.handleError(record)  # as every logging handler does

    handler = Keep()
    repeats = RepeatFilter(handler.handle, window_s=60, max_kinds=4, clock=clock)
    handler.addFilter(repeats)
    logger = logging.getLogger("meshpos.test_logs")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield logger, lines, clock, repeats
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_a_repeated_problem_is_one_line_then_a_count_per_window(logged: Logged) -> None:
    log, lines, clock, _ = logged
    for backoff in (2, 4, 8, 16):  # the relay's retries: the same problem, a growing backoff
        log.warning(
            "relay: %s; keeping off the relay role for %.0f s", "wrong venue token", backoff
        )
    assert lines == ["relay: wrong venue token; keeping off the relay role for 2 s"]
    clock.now += 61
    log.warning("relay: %s; keeping off the relay role for %.0f s", "wrong venue token", 32)
    assert lines[1:] == [
        "relay: wrong venue token; keeping off the relay role for 2 s (3 more like this in the last 61 s)"
    ]
    clock.now += 61  # one more in that window: said at the end of it
    log.info("something else")
    assert lines[2:] == [
        "relay: wrong venue token; keeping off the relay role for 2 s (1 more like this in the last 61 s)",
        "something else",
    ]


def test_a_peer_knocking_from_new_ports_is_one_peer_and_another_peer_is_another_line(
    logged: Logged,
) -> None:
    log, lines, _, repeats = logged
    for port in range(40000, 40100):
        log.warning("%s", f"refused 10.0.0.7:{port}: tls: the peer presented no certificate")
    log.warning("%s", "refused 10.0.0.8:5000: tls: the peer presented no certificate")
    assert lines == [
        "refused 10.0.0.7:40000: tls: the peer presented no certificate",
        "refused 10.0.0.8:5000: tls: the peer presented no certificate",
    ]
    repeats.flush()  # at exit: nothing held back is lost
    assert lines[2:] == [
        "refused 10.0.0.7:40000: tls: the peer presented no certificate (99 more like this in the last 0 s)"
    ]


def test_a_caller_may_name_the_kind(logged: Logged) -> None:
    log, lines, _, _ = logged
    log.warning("backlog of %s: %d bytes", "R2", 1000, extra={LIMIT_KEY: ("backlog", "R2")})
    log.warning("R2 again, said differently", extra={LIMIT_KEY: ("backlog", "R2")})
    log.warning("backlog of %s: %d bytes", "R3", 1000, extra={LIMIT_KEY: ("backlog", "R3")})
    assert lines == ["backlog of R2: 1000 bytes", "backlog of R3: 1000 bytes"]


def test_an_attacker_varying_the_problem_gets_a_bounded_log_and_memory(logged: Logged) -> None:
    log, lines, clock, repeats = logged
    for i in range(1000):
        log.warning("refused %s: certificate: %s", f"10.0.{i // 250}.{i % 250}", f"junk {i}")
    assert len(lines) == repeats.max_kinds  # the first kinds, then only counted
    assert len(repeats._kinds) <= repeats.max_kinds
    clock.now += 61
    log.warning("a new problem after the flood")
    assert "996 log lines of other kinds were held back (over 4 kinds at once)" in lines
    assert lines[-1] == "a new problem after the flood"


def test_changes_of_state_and_debug_are_not_limited(logged: Logged) -> None:
    """INFO says what happened in order (the relay moved back and forth); DEBUG was asked for."""
    log, lines, _, _ = logged
    for _ in range(2):
        log.info("relay is now %s", "R1")
        log.info("relay is now %s", "R2")
        log.debug("asked for on purpose")
    assert lines == ["relay is now R1", "relay is now R2", "asked for on purpose"] * 2


def test_json_format_is_one_object_per_line_and_routine_traffic_is_debug() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        repeats = setup_logging("INFO", "json", stream=stream, force=True)
        assert repeats is not None
        logging.getLogger("websockets.server").info("HTTP response sent (200 OK)")  # a relay probe
        logging.getLogger("meshpos.relay").warning("console %s: %s", "ws://c", "refused")
        logging.getLogger("meshpos.relay").warning("console %s: %s", "ws://c", "refused")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("meshpos.node").exception("it failed")
        repeats.flush()
        records = [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("websockets").setLevel(logging.NOTSET)
    assert [r["message"] for r in records] == [
        "console ws://c: refused",
        "it failed",
        "console ws://c: refused (1 more like this in the last 0 s)",
    ]
    assert (records[0]["level"], records[0]["logger"]) == ("WARNING", "meshpos.relay")
    assert records[0]["time"].endswith("+00:00")
    assert "ValueError: boom" in records[1]["exception"]
    assert records[2]["repeated"] == 1


def test_routine_traffic_shows_at_debug() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        setup_logging("DEBUG", "text", stream=stream, force=True)
        logging.getLogger("websockets.server").info("HTTP response sent (200 OK)")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("websockets").setLevel(logging.NOTSET)
    assert "INFO websockets.server: HTTP response sent (200 OK)" in stream.getvalue()


def test_logging_someone_else_set_up_is_left_alone() -> None:
    """An app (or a test) that calls meshpos.cli.main keeps its own handlers, as with basicConfig."""
    root = logging.getLogger()
    theirs = logging.NullHandler()
    saved = (root.handlers[:], root.level)
    try:
        root.handlers[:] = [theirs]
        assert setup_logging("INFO", "text") is None
        assert root.handlers == [theirs]
        assert root.level == logging.INFO
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("websockets").setLevel(logging.NOTSET)


def test_a_record_whose_arguments_do_not_fit_never_breaks_the_caller(logged: Logged) -> None:
    log, lines, _, repeats = logged
    logging.raiseExceptions, raised = False, logging.raiseExceptions  # the handler's own complaint
    try:
        for _ in range(2):
            log.warning("%d items", "not a number")  # a bug in a log call must not stop a sale
        repeats.flush()
    finally:
        logging.raiseExceptions = raised
    # the first could not be written (logging says so on stderr); the count still is, with the template
    assert lines == ["%d items (1 more like this in the last 0 s)"]


def test_the_cli_finds_the_command_after_the_log_options() -> None:
    assert command_word(["--log-format", "json", "--log-level", "DEBUG", "node"]) == "node"


async def test_a_node_started_with_log_format_json_writes_only_json_lines(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    config = make_device(authority, tmp_path, "R1")
    argv = [
        "-m",
        "meshpos",
        "--log-format",
        "json",
        "node",
        "--config",
        str(config),
        "--no-discovery",
    ]
    node = Proc("R1", argv, tmp_path / "R1.log", tmp_path / "R1" / "api.token")
    await node.start()
    await node.stop()
    lines = [line for line in node.log.read_text().splitlines() if not line.startswith("-----")]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    messages = [r["message"] for r in records]
    assert any(m.startswith("node R1 (register) started") for m in messages), messages
    assert {r["level"] for r in records} == {"INFO"}  # a clean start and stop
