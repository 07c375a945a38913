"""A heartbeat whose console statement fails the check changes nothing (bad input from a peer: a named
error and nothing taken). The statement was checked after the beat's presence, relay claim, far records
and attestations had been taken, so a forger's beat was refused yet its node stayed present, claiming
the relay role, until it went silent."""

from __future__ import annotations

import pytest

from meshpos.sync import ConsoleSignatureRefused
from meshpos.sync._messages import Heartbeat
from meshpos.trust.console_key import ConsoleSigning

from .test_sync_console_signed import _forged, keys, node, sell
from .test_sync_topology import DOC

__all__ = ["keys"]  # (the module's fixture, used by name)


@pytest.mark.parametrize("signed", [True, "auto"])
def test_a_beat_whose_statement_fails_the_check_leaves_no_presence_nor_relay_claim(
    keys: tuple[str, ConsoleSigning, ConsoleSigning], signed: bool | str
) -> None:
    ca, signing, _ = keys
    register = node("R2", "register", ca, signed=signed)  # type: ignore[arg-type]
    sell(register)
    version = register.status_version
    genuine = signing({"console": {DOC: {}}, "reports": {}, "unreported": (0, "")})
    assert genuine is not None
    forged = _forged(genuine, console={DOC: {"13": 1}})
    beat = Heartbeat("R9", "register", 1, True, True, 5, {}, {}, signed=forged)
    with pytest.raises(ConsoleSignatureRefused):
        register._on_heartbeat(beat)
    assert "R9" not in register.presence  # fails before: the beat was observed first
    assert register.relay != "R9"
    assert register.status_version == version
    assert register.console_state(DOC) == {}
    assert not register.statements.strict or signed is True
