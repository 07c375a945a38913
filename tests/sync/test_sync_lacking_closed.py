"""A register judges its closed days against the console's signed statements (issue 18, newconsole;
``sync/_lacking.py``): a day the console lacks is shown not at the console and, after
``LACKING_FOR`` anti-entropy periods, due to be opened again (``register/retention.py``); a day the
console holds closed but does not state (``STATED_CLOSED_DAYS`` newer days stated) is not.

On main none of this exists: the register trusted that a closed day stays at the console, which a
console on a new database (or restored from an older backup) does not (tests/outside/
test_console_database_replaced.py runs real processes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from pycrdt import Map

from meshpos.node_status import ALL_SYNCED, compute_status
from meshpos.sync import Synchronizer
from meshpos.sync._closed_said import STATED_CLOSED_DAYS
from meshpos.sync._lacking import LACKING_FOR
from meshpos.sync._messages import Heartbeat
from meshpos.sync._signed import statement_digest
from meshpos.trust.console_key import ConsoleChecker, ConsoleSigning

from .test_sync_console_signed import VENUE_ID, console_and_impostor, node

TODAY = dt.date(2026, 12, 5)
#: the register's closed business days: the ten before today, oldest first
CLOSED = [f"ledger/{TODAY - dt.timedelta(days=n)}" for n in range(10, 0, -1)]
OPEN = f"ledger/{TODAY}"


@pytest.fixture(scope="module")
def venue_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ConsoleSigning]:
    ca, signing, _ = console_and_impostor(tmp_path_factory.mktemp("venue") / "venue", "v")
    return ca, signing


class Console:
    """The console's signed statements, one sequence number each."""

    def __init__(self, signing: ConsoleSigning) -> None:
        self.signing, self.seq = signing, 0

    def says(self, console: dict[str, dict[int, int]]) -> Heartbeat:
        self.seq += 1
        statement = self.signing({"console": console, "reports": {}, "unreported": (0, "")})
        return Heartbeat("C", "console", 1, True, True, self.seq, {}, {}, signed=statement)


def register_with_closed_days(ca: str) -> tuple[Synchronizer, dict[str, dict[int, int]]]:
    """A strict register that sold one receipt on each of ``CLOSED`` (closed) and today (open)."""
    register = node("R2", "register", ca)
    held: dict[str, dict[int, int]] = {}
    for name in [*CLOSED, OPEN]:
        doc = register.open_doc(name)
        with doc.transaction():
            doc.get("sales", type=Map)["s1"] = "x"
        held[name] = {register.client_id: 1}
    for name in CLOSED:
        register.close_doc(name)
    register._now = 1000.0
    return register, held


def later(register: Synchronizer, periods: float) -> None:
    assert register._now is not None
    register._now += periods * register.config.anti_entropy_interval


def test_a_new_console_lacks_every_closed_day(venue_keys: tuple[str, ConsoleSigning]) -> None:
    ca, signing = venue_keys
    register, held = register_with_closed_days(ca)
    console = Console(signing)
    register._on_heartbeat(console.says({OPEN: held[OPEN]}))  # it holds today only
    assert register.statements.strict
    assert set(register.lacking_days.lacking) == set(CLOSED)
    assert register.closed_lacking_due() == []  # (not yet: a statement may lack the closed part)
    status = compute_status(
        node_id="R2",
        role="register",
        sync=register,
        peers={},
        uplink=True,
        receipts=11,
        uptime_s=1.0,
    )  # (shown at once: the register's today is at the console, its closed days are not)
    assert status.pending == len(CLOSED)
    assert status.message.startswith(f"{len(CLOSED)} closed business days ("), status.message
    assert status.message != ALL_SYNCED
    later(register, LACKING_FOR)
    assert register.closed_lacking_due() == []  # no statement since: no evidence
    register._on_heartbeat(console.says({OPEN: held[OPEN]}))  # two periods on, it still lacks them
    assert register.closed_lacking_due() == CLOSED  # oldest first


def test_a_console_restored_from_an_older_backup_lacks_the_last_day(
    venue_keys: tuple[str, ConsoleSigning],
) -> None:
    ca, signing = venue_keys
    register, held = register_with_closed_days(ca)
    console = Console(signing)
    # it closed every day but the last one; it states its latest STATED_CLOSED_DAYS of them
    stated = CLOSED[:-1][-STATED_CLOSED_DAYS:]
    register._on_heartbeat(console.says({OPEN: held[OPEN], **{n: held[n] for n in stated}}))
    assert set(register.lacking_days.lacking) == {CLOSED[-1]}
    later(register, 2)
    register._on_heartbeat(console.says({OPEN: held[OPEN]}))  # (without the closed part)
    assert register.closed_lacking_due() == []
    later(register, LACKING_FOR - 2)
    assert register.closed_lacking_due() == [CLOSED[-1]]


def test_a_console_that_holds_everything_lacks_nothing(
    venue_keys: tuple[str, ConsoleSigning],
) -> None:
    ca, signing = venue_keys
    register, held = register_with_closed_days(ca)
    console = Console(signing)
    # right after a start, a statement without the closed part: pending shown, nothing due yet
    register._on_heartbeat(console.says({OPEN: held[OPEN]}))
    assert register.lacking_days.lacking
    later(register, LACKING_FOR - 1)
    stated = CLOSED[-STATED_CLOSED_DAYS:]  # its latest closed days: the older are not stated
    register._on_heartbeat(console.says({OPEN: held[OPEN], **{n: held[n] for n in stated}}))
    assert register.lacking_days.lacking == {}
    status = compute_status(
        node_id="R2",
        role="register",
        sync=register,
        peers={},
        uplink=True,
        receipts=11,
        uptime_s=1.0,
    )
    assert status.pending == 0, status.message
    later(register, 2 * LACKING_FOR)
    assert register.closed_lacking_due() == []
    # statements without the closed part say nothing of the days it confirmed
    register._on_heartbeat(console.says({OPEN: held[OPEN]}))
    assert register.lacking_days.lacking == {}
    # one naming a day with less than it holds makes that day lacking again
    register._on_heartbeat(console.says({OPEN: held[OPEN], CLOSED[-1]: {}}))
    assert set(register.lacking_days.lacking) == {CLOSED[-1]}


def test_a_node_that_is_not_strict_judges_nothing(
    venue_keys: tuple[str, ConsoleSigning],
) -> None:
    ca, signing = venue_keys
    register = node("R2", "register", ca, signed=False)
    doc = register.open_doc(CLOSED[0])
    with doc.transaction():
        doc.get("sales", type=Map)["s1"] = "x"
    register.close_doc(CLOSED[0])
    register._on_heartbeat(Console(signing).says({}))
    assert not register.statements.strict
    assert register.lacking_days.lacking == {}


def test_a_tick_standing_by_the_statement_affirms_it(
    venue_keys: tuple[str, ConsoleSigning],
) -> None:
    """A quiet console signs ticks, not statements: it signs a tick only when its closed part is
    not due, so a tick two periods on affirms that the statement it names lacks the days."""
    ca, signing = venue_keys
    register, held = register_with_closed_days(ca)
    register.config = replace(register.config, console_tick_check=ConsoleChecker(ca, VENUE_ID).tick)
    beat = Console(signing).says({OPEN: held[OPEN]})  # a new console, at rest
    register._on_heartbeat(beat)
    later(register, LACKING_FOR)
    assert register.closed_lacking_due() == []
    assert beat.signed is not None
    now = signing.now
    signing.now = lambda: now() + dt.timedelta(seconds=5)  # (the tick is newer than the statement)
    try:
        tick = signing.tick(statement_digest(beat.signed))
    finally:
        signing.now = now
    register._on_heartbeat(replace(beat, seq=beat.seq + 1, signed=None, tick=tick))
    assert register.closed_lacking_due() == CLOSED
