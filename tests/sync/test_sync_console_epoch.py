"""The console database's epoch (the twenty-third session, part ``epoch``; ``sync/_epoch.py``): a
strict register that sees the console's signed epoch change forgets what the console told it (its
clocks of the open days, the closed days a statement covered) and judges again, so a console on a
new database is not called synced while the register keeps running; a forged word closes the
session, a replayed older one changes nothing, and an N−1 peer is never sent one.

On main there is no epoch: the register keeps the old console's highest clocks and its
confirmations in memory, and says "All data is synced" to the new console's statement (the first
test's last assertion without the word is what main does with it).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import cast

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from meshpos.errors import RemoteProtocolError
from meshpos.node_status import ALL_SYNCED, compute_status
from meshpos.sync import FEATURES, ConsoleSignatureRefused, SignedConsole, Synchronizer
from meshpos.sync._bodies import decode_heartbeat, heartbeat_body
from meshpos.sync._closed_said import STATED_CLOSED_DAYS
from meshpos.sync._messages import Heartbeat
from meshpos.sync._session import Session
from meshpos.sync._signed import EPOCH_FEATURE, epoch_body
from meshpos.trust.console_key import ConsoleChecker, ConsoleSigning

from .test_sync_console_signed import VENUE_ID, console_and_impostor
from .test_sync_lacking_closed import CLOSED, OPEN, register_with_closed_days

T0 = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
OLD, NEW = 1_700_000_000_000, 1_760_000_000_000  # the two databases' epochs (ms)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ConsoleSigning, ConsoleSigning]:
    return console_and_impostor(tmp_path_factory.mktemp("venue") / "venue", "v")


@contextmanager
def signing_at(signing: ConsoleSigning, seconds: float) -> Iterator[None]:
    now = signing.now
    signing.now = lambda: T0 + dt.timedelta(seconds=seconds)
    try:
        yield
    finally:
        signing.now = now


class Console:
    """One console process: its database's epoch word, signed at its start, and its statements."""

    def __init__(self, signing: ConsoleSigning, epoch: int, started: float) -> None:
        self.signing, self.clock, self.seq = signing, started, 0
        with signing_at(signing, started):
            self.word = signing.epoch(epoch)

    def says(self, console: dict[str, dict[int, int]], *, word: bool = True) -> Heartbeat:
        self.seq += 1
        self.clock += 1.0
        with signing_at(self.signing, self.clock):
            statement = self.signing({"console": console, "reports": {}, "unreported": (0, "")})
        return Heartbeat(
            "C",
            "console",
            1,
            True,
            True,
            self.seq,
            {},
            {},
            signed=statement,
            epoch=self.word if word else None,
        )


def strict_register(ca: str) -> tuple[Synchronizer, dict[str, dict[int, int]]]:
    register, held = register_with_closed_days(ca)
    register.config = replace(
        register.config, console_epoch_check=ConsoleChecker(ca, VENUE_ID).epoch
    )
    return register, held


def status_of(register: Synchronizer) -> str:
    return compute_status(
        node_id="R2", role="register", sync=register, peers={}, uplink=True, receipts=11, uptime_s=1
    ).message


def everything(held: dict[str, dict[int, int]]) -> dict[str, dict[int, int]]:
    """What a console holding all of it states: today and its latest closed days."""
    return {OPEN: held[OPEN], **{n: held[n] for n in CLOSED[-STATED_CLOSED_DAYS:]}}


def test_a_console_on_a_new_database_is_judged_again(
    keys: tuple[str, ConsoleSigning, ConsoleSigning],
) -> None:
    ca, signing, _ = keys
    register, held = strict_register(ca)
    old = Console(signing, OLD, 0)
    register._on_heartbeat(old.says(everything(held)))
    assert status_of(register) == ALL_SYNCED
    assert register.epochs.epoch == OLD
    assert register.epochs.forgotten == 0
    # the PC died: a console on a new database, later; it holds nothing yet
    new = Console(signing, NEW, 100)
    without_word = new.says({OPEN: {}}, word=False)
    register._on_heartbeat(without_word)  # (an N−1 relay passes no word: main's behaviour)
    assert status_of(register) == ALL_SYNCED  # (what main says: the old console's word kept)
    register._on_heartbeat(new.says({OPEN: {}}))
    assert register.epochs.epoch == NEW
    assert register.epochs.forgotten == 1
    assert register._console_sv.get(OPEN, {}) == {}
    assert set(register.lacking_days.lacking) == set(CLOSED)  # every closed day judged again
    assert register.held_closed == set()
    assert status_of(register) != ALL_SYNCED
    # the old console's statement replayed by a relay: signed before the new epoch, not learnt
    register._on_heartbeat(replace(old.says(everything(held)), epoch=old.word))
    assert register.epochs.epoch == NEW
    assert register._console_sv.get(OPEN, {}) == {}
    assert status_of(register) != ALL_SYNCED
    # the new console's signed word covers it all: synced
    register._on_heartbeat(new.says({**everything(held), **{n: held[n] for n in CLOSED}}))
    assert status_of(register) == ALL_SYNCED
    assert register.epochs.forgotten == 1


def test_the_same_database_again_and_a_first_word_forget_nothing(
    keys: tuple[str, ConsoleSigning, ConsoleSigning],
) -> None:
    ca, signing, _ = keys
    register, held = strict_register(ca)
    register._on_heartbeat(Console(signing, OLD, 0).says(everything(held)))  # the first word
    register._on_heartbeat(Console(signing, OLD, 50).says(everything(held)))  # a restart
    assert register.epochs.forgotten == 0
    assert register.epochs.at > 0
    assert status_of(register) == ALL_SYNCED


def test_a_replayed_older_epoch_cannot_make_it_forget(
    keys: tuple[str, ConsoleSigning, ConsoleSigning],
) -> None:
    ca, signing, _ = keys
    register, held = strict_register(ca)
    old, new = Console(signing, OLD, 0), Console(signing, NEW, 100)
    register._on_heartbeat(new.says(everything(held)))
    assert status_of(register) == ALL_SYNCED
    register._on_heartbeat(replace(new.says(everything(held)), epoch=old.word))  # signed earlier
    assert register.epochs.epoch == NEW
    assert register.epochs.forgotten == 0
    assert status_of(register) == ALL_SYNCED


def forged(body: str, key: ec.EllipticCurvePrivateKey, cert: str, domain: bytes) -> SignedConsole:
    sig = key.sign(domain + body.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    return SignedConsole(body, cert, base64.b64encode(sig).decode("ascii"))


@pytest.mark.parametrize("how", ["impostor", "statement_domain", "other_venue", "malformed"])
def test_a_forged_epoch_closes_the_session_and_changes_nothing(
    keys: tuple[str, ConsoleSigning, ConsoleSigning], how: str
) -> None:
    ca, signing, impostor = keys
    register, held = strict_register(ca)
    console = Console(signing, OLD, 0)
    register._on_heartbeat(console.says(everything(held)))
    good = Console(signing, NEW, 100).word
    assert good is not None
    body = epoch_body(VENUE_ID, json.loads(good.body)["at"], NEW)
    if how == "impostor":  # a register's genuine key, signing as if it were the console
        word = Console(impostor, NEW, 100).word
    elif how == "statement_domain":  # the console's key, under the statements' domain
        word = forged(body, signing._key, good.cert, b"meshpos-console-statement-v1\n")
    elif how == "other_venue":
        word = forged(
            epoch_body("elsewhere", 1, NEW),
            signing._key,
            good.cert,
            b"meshpos-console-epoch-v1\n",
        )
    else:
        word = replace(good, body=good.body.replace('"epoch"', '"epoc"'))
    assert word is not None
    with pytest.raises(ConsoleSignatureRefused if how != "malformed" else RemoteProtocolError):
        register._on_heartbeat(replace(console.says(everything(held), word=False), epoch=word))
    assert register.epochs.epoch == OLD
    assert register.epochs.forgotten == 0


def test_an_n_minus_1_peer_is_never_sent_the_word(
    keys: tuple[str, ConsoleSigning, ConsoleSigning],
) -> None:
    _, signing, _ = keys
    beat = Console(signing, OLD, 0).says({})
    assert b'"epoch"' not in heartbeat_body(beat, frozenset())
    assert b'"epoch"' not in heartbeat_body(beat, FEATURES - {EPOCH_FEATURE})
    wire = heartbeat_body(beat, FEATURES)
    assert b'"epoch"' in wire
    back = decode_heartbeat(wire)
    assert back.epoch == beat.epoch


class Link:
    """A session as ``_with_epoch`` sees it: what its peer announced (and a weak reference)."""

    def __init__(self, features: frozenset[str]) -> None:
        self.peer_features = features


def test_a_node_passes_the_word_on_once_per_link_to_peers_that_take_it(
    keys: tuple[str, ConsoleSigning, ConsoleSigning],
) -> None:
    ca, signing, _ = keys
    register, held = strict_register(ca)
    console = Console(signing, OLD, 0)
    register._on_heartbeat(console.says(everything(held)))
    own = Heartbeat("R2", "register", 1, False, False, 1, {}, {})
    link, old_peer = Link(FEATURES), Link(frozenset())
    first = register._with_epoch(own, cast(Session, link))
    assert first.epoch == console.word
    assert register._with_epoch(own, cast(Session, link)).epoch is None  # (once per link)
    assert register._with_epoch(own, cast(Session, Link(FEATURES))).epoch == console.word
    assert register._with_epoch(own, cast(Session, old_peer)).epoch is None  # (N−1)
    # a new console's word: passed on again on the same link
    register._on_heartbeat(Console(signing, NEW, 100).says({OPEN: {}}))
    assert register._with_epoch(own, cast(Session, link)).epoch not in (None, console.word)
    # and a register beyond it takes it from the passed beat as from the console's
    beyond, _ = strict_register(ca)
    beyond._on_heartbeat(console.says(everything(held)))
    newer = Console(signing, NEW, 100)
    passed = replace(own, seq=2, signed=newer.says({OPEN: {}}).signed, epoch=newer.word)
    beyond._on_heartbeat(passed)
    assert beyond.epochs.epoch == NEW
    assert beyond.epochs.forgotten == 1


def test_a_word_of_a_console_revoked_since_is_not_passed_on(
    keys: tuple[str, ConsoleSigning, ConsoleSigning],
) -> None:
    """As ``_passing._still_good`` for statements: every peer would refuse it and close this
    honest link, after every relink."""
    ca, signing, _ = keys
    register, held = strict_register(ca)
    checker = ConsoleChecker(ca, VENUE_ID)
    register.config = replace(register.config, console_epoch_check=checker.epoch)
    register._on_heartbeat(Console(signing, OLD, 0).says(everything(held)))
    own = Heartbeat("R2", "register", 1, False, False, 1, {}, {})
    checker.is_revoked = lambda device: True  # (``meshpos revoke console``, heard since)
    assert register._with_epoch(own, cast(Session, Link(FEATURES))).epoch is None
    assert register.epochs.latest is None
