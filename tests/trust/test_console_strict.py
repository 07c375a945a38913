"""Remembering that a node takes the console's word only as signed (issue 18, sticky:
trust/console_strict.py): "auto" turns into strict from the start once remembered; a node that cannot
write the file stays strict in memory (the synchronizer turned first) and logs why."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from meshpos.trust.console_strict import STRICT_FILE, console_signed_mode


def test_true_and_false_are_as_set(tmp_path: Path) -> None:
    (tmp_path / STRICT_FILE).write_text("x")
    assert console_signed_mode(True, tmp_path) == (True, None)
    assert console_signed_mode(False, tmp_path) == (False, None)  # the operator's word wins


def test_auto_remembers_and_is_strict_at_the_next_start(tmp_path: Path) -> None:
    mode, remember = console_signed_mode("auto", tmp_path)
    assert mode == "auto"
    assert remember is not None
    remember()
    assert (tmp_path / STRICT_FILE).exists()
    assert [p.name for p in tmp_path.iterdir()] == [STRICT_FILE]  # no temp file left behind
    assert console_signed_mode("auto", tmp_path) == (True, None)


def test_a_node_that_cannot_remember_logs_it_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    _, remember = console_signed_mode("auto", blocked)
    assert remember is not None
    with caplog.at_level(logging.ERROR, logger="meshpos.trust"):
        remember()  # raises nothing: the node stays strict in memory
    assert "cannot remember" in caplog.text
    assert console_signed_mode("auto", blocked)[0] == "auto"
