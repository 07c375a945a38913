"""An enrolled register whose owner runs modified code signs, with its own genuine device key, a word
whose body is JSON nested 3,000 deep (7 kB), and sends it in a heartbeat's ``helds`` to a real
``meshpos node``. The signature holds (the device may sign its own words), so the node decodes the
body, and ``json.loads`` raised RecursionError, which the decoders of signed words did not catch
(they caught ValueError): it escaped ``Synchronizer.receive_data``, which must never raise for what a
peer sent (the outside round of the twenty-third session, part ``attacker``). Now the word is refused
by name like any malformed one (``sync/_fields.signed_json``): the link closes with the reason, nothing is taken, the node keeps
serving (an honest device links after it), and nothing in the log is a traceback.

On main: the RecursionError ended the link's reading task; the link closed as "connection ended",
no goodbye said why, and the node's log said nothing of it."""

from __future__ import annotations

import asyncio

import pytest

from meshpos.harness.wait import POLL_S, until
from meshpos.model.documents import STOPLIST
from meshpos.sync import Heartbeat
from meshpos.sync._bodies import heartbeat_body
from meshpos.sync._codec import HEARTBEAT
from meshpos.sync._features import FEATURES
from meshpos.trust import VenueAuthority
from meshpos.trust.device_word import DeviceWordSigner

from ..mesh.attacker import Attacker
from ..mesh.kit import NodeProcess
from ..trust.helpers import issue_identity

HOST = "127.0.0.1"
DEPTH = 3_000  # Python's json gives up past its recursion limit (1,000 frames)


@pytest.mark.parametrize("start", ["", '{"held":'])
async def test_a_signed_word_nested_3000_deep_is_refused_by_name(
    node: tuple[VenueAuthority, NodeProcess], start: str
) -> None:
    authority, proc = node
    identity = issue_identity(authority, "R9")
    body = start + "[" * DEPTH + "]" * DEPTH + ("}" if start else "")
    signed = DeviceWordSigner(identity)(body)  # (its own key: the signature holds)
    beat = Heartbeat("R9", "register", 1, False, False, 3, helds=(signed,))
    evil = await Attacker.dial(identity, "R1", HOST, proc.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello(client_id=4242))
        await evil.send_raw(bytes([HEARTBEAT]) + heartbeat_body(beat, FEATURES))
        async with asyncio.timeout(30):
            await evil.wait_closed()
    finally:
        await evil.close()
    assert len(evil.byes) == 1, evil.byes  # on main: none, the link's task died
    assert "body must be an object of" in evil.byes[0], evil.byes
    honest = await Attacker.dial(issue_identity(authority, "R8"), "R1", HOST, proc.port)
    try:
        await honest.wait_for_hello()
        await honest.send(honest.hello(client_id=4343))
        assert await honest.fetch(STOPLIST)
    finally:
        await honest.close()

    def refusal_logged() -> bool:  # (the node's log is written by a thread of its own)
        return any(
            "closing session with R9: " in line and "body must be an object of" in line
            for line in proc.log.read_text().splitlines()
        )

    await until(refusal_logged, 30, "the refusal logged", every=POLL_S)
    assert "Traceback" not in proc.log.read_text()
