"""The console's certificate expires (review of the signed console's word, docs/architecture.md (Security)).

Every node refuses a statement whose certificate is not valid now. Before: a node checked
the dates once per distinct statement (cached), so a statement taken just before the expiry was passed
on after it, and every fresh peer refused it and closed the honest link, after every relink; and a
console running past its certificate's end went on signing, so every node closed its session with the
console on every statement. Now the checker asks the dates every time (as it asks the deny-list), the
console signs nothing once its certificate has expired and says so once in its log, and a console
starting within 30 days of the end warns."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from typing import Any

import pytest

from meshpos.sync import ConsoleSignatureRefused
from meshpos.sync._session import Session
from meshpos.trust import console_key, init_venue
from meshpos.trust.console_key import (
    ConsoleChecker,
    ConsoleSigning,
    issue_console_key,
    load_console_signing,
)

from .test_sync_console_signed import node
from .test_sync_console_signed_hostile import Keys, _beat, keys
from .test_sync_topology import DOC

__all__ = ["keys"]  # (the module's fixture, used by name)

CONTENT: dict[str, Any] = {"console": {DOC: {}}, "reports": {}}
LATER = datetime.timedelta(seconds=1)


def _checker(sync: object) -> ConsoleChecker:
    checker = sync.config.console_check  # type: ignore[attr-defined]
    assert isinstance(checker, ConsoleChecker)
    return checker


def test_a_statement_checked_before_its_certificate_expired_is_refused_after(keys: Keys) -> None:
    ca, signing, _ = keys
    checker = ConsoleChecker(ca, signing.venue_id)
    statement = signing(CONTENT)
    assert statement is not None
    checker(statement)  # valid now: taken, and cached
    checker.now = lambda: signing.expires + LATER
    with pytest.raises(ConsoleSignatureRefused, match="not valid now"):
        checker(statement)
    assert checker.verified == 1  # (the signature was not verified again for it)


def test_a_statement_whose_certificate_expired_since_it_was_taken_is_not_passed_on(
    keys: Keys,
) -> None:
    ca, signing, _ = keys
    relay, fresh = node("R1", "register", ca), node("R2", "register", ca)
    statement = signing(CONTENT)
    assert statement is not None
    relay._on_heartbeat(_beat(statement))
    assert relay.statements.latest is not None
    for sync in (relay, fresh):
        _checker(sync).now = lambda: signing.expires + LATER
    session = Session(relay.hello, peer_features=frozenset({"signed1", "topology1"}))
    session.peer = fresh.hello
    passed = relay._with_signed(relay._heartbeat(), session)
    assert passed.signed is None
    fresh._on_heartbeat(passed)  # (no refusal: the honest link stays)


def test_a_console_whose_certificate_expired_signs_nothing_and_says_so_once(
    keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    _, signing, _ = keys
    expired = ConsoleSigning.__new__(ConsoleSigning)
    expired.__dict__.update(signing.__dict__)  # (the same key, its own clock)
    expired.now = lambda: signing.expires + LATER
    console = node("console", "console", None, signer=expired)
    with caplog.at_level(logging.ERROR, logger="meshpos.trust"):
        for _ in range(3):
            assert console._heartbeat().signed is None
    said = [r.getMessage() for r in caplog.records if "expired" in r.getMessage()]
    assert len(said) == 1
    assert "meshpos venue console-key" in said[0]
    assert console.statements.own is None


def test_a_console_starting_within_30_days_of_its_certificates_end_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    authority = init_venue(tmp_path / "venue", "Cafe", "v")
    issue_console_key(authority)
    signing = load_console_signing(authority.directory, "v")
    assert signing is not None
    soon = signing.expires - datetime.timedelta(days=10, hours=1)
    monkeypatch.setattr(console_key, "_now", lambda: soon)
    with caplog.at_level(logging.WARNING, logger="meshpos.trust"):
        assert load_console_signing(authority.directory, "v") is not None
    warned = [r.getMessage() for r in caplog.records if "expires" in r.getMessage()]
    assert len(warned) == 1
    assert "in 10 days" in warned[0]
    assert "meshpos venue console-key" in warned[0]
    caplog.clear()
    monkeypatch.setattr(console_key, "_now", lambda: signing.expires - datetime.timedelta(days=90))
    with caplog.at_level(logging.WARNING, logger="meshpos.trust"):
        assert load_console_signing(authority.directory, "v") is not None
    assert not [r for r in caplog.records if "expires" in r.getMessage()]
