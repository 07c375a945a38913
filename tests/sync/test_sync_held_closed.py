"""A day a register closed on the console's unsigned word is re-confirmed only by its signed word
(issue 18, keep; ``Synchronizer.held_closed``, ``register/retention.py``).

A register in "auto" closes days on unsigned word until its first statement; once strict, a closed day
is named in ``held_closed`` (so the node records it as closed on signed word, and may drop it later)
only when a checked statement says the console holds all of the day's closed summary. An enrolled
device's unsigned claim, a statement that holds less than the day, or a node not strict names nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from meshpos.sync._messages import Heartbeat
from meshpos.trust.console_key import ConsoleSigning

from .test_sync_console_signed import _lie, console_and_impostor, node, sell
from .test_sync_topology import DOC


@pytest.fixture(scope="module")
def venue_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ConsoleSigning]:
    ca, signing, _ = console_and_impostor(tmp_path_factory.mktemp("venue") / "venue", "v")
    return ca, signing


def beat(seq: int, signing: ConsoleSigning, console: dict[str, dict[int, int]]) -> Heartbeat:
    statement = signing({"console": console, "reports": {}, "unreported": (0, "")})
    return Heartbeat("R1", "register", 1, True, True, seq, {}, {}, signed=statement)


def test_a_day_closed_unsigned_is_named_held_only_by_the_console_s_signed_word(
    venue_keys: tuple[str, ConsoleSigning],
) -> None:
    ca, signing = venue_keys
    register = node("R2", "register", ca, signed="auto")
    sold = sell(register)
    register._on_heartbeat(_lie(sold))  # "auto", not strict yet: the lie is believed...
    assert register.pending(DOC) == 0
    register.close_doc(DOC)  # ...and the day closes on it (unsigned)
    assert register.held_closed == set()  # (not strict: nothing is confirmed)
    # the console's first statement turns the node strict: it holds nothing of the day
    register._on_heartbeat(beat(2, signing, {DOC: {}}))
    assert register.statements.strict
    assert register.held_closed == set()
    # a device's unsigned claim that the console holds it moves nothing now
    register._on_heartbeat(_lie(sold))
    assert register.held_closed == set()
    # a signed statement holding less than the day (a lower clock) names nothing either
    (client, clock), *_ = sold.items()
    register._on_heartbeat(beat(3, signing, {DOC: {client: clock - 1}}))
    assert register.held_closed == set()
    # the console's signed word that it holds all of the day names it
    register._on_heartbeat(beat(4, signing, {DOC: sold}))
    assert register.held_closed == {DOC}


def test_a_node_that_is_not_strict_names_nothing(
    venue_keys: tuple[str, ConsoleSigning], tmp_path: Path
) -> None:
    ca, signing = venue_keys
    register = node("R2", "register", ca, signed=False)  # signing off: the word is not proven
    sold = sell(register)
    register.close_doc(DOC)
    register._on_heartbeat(beat(2, signing, {DOC: sold}))
    assert not register.statements.strict
    assert register.held_closed == set()
