"""An enrolled register whose owner runs modified code writes into the venue's deny-list document (any
device may carry it: every reader checks the CA's signature) an entry whose text is JSON nested 3,000
deep, a plain string of 6 kB to the CRDT (the outside round of the twenty-third session, part
``attacker``). Every node reads each entry of that document as JSON (``trust/revocations.py``), and
Python's parser raised RecursionError, which it did not catch (it caught ValueError): at once, and at
every start after, since the entry is kept and passed on. Now the entry is ignored as any invalid one
(one warning, through the log's repeat filter), the node keeps serving, and it starts again.

On main: nothing said it at once (the refresh's error went nowhere), the entry was committed and
passed on, and the node's next start failed: "meshpos: unexpected error: RecursionError"."""

from __future__ import annotations

import asyncio
from typing import Any

from pycrdt import Doc, Map

from meshpos.harness.wait import POLL_S, until
from meshpos.model.documents import DENYLIST
from meshpos.sync import SyncUpdate
from meshpos.trust import VenueAuthority

from ..mesh.attacker import Attacker
from ..mesh.kit import NodeProcess
from ..trust.helpers import issue_identity

HOST = "127.0.0.1"
CLIENT = 4242


async def test_a_revocation_entry_nested_3000_deep_is_ignored_and_the_node_starts_again(
    node: tuple[VenueAuthority, NodeProcess],
) -> None:
    authority, proc = node
    doc: Doc[Any] = Doc(client_id=CLIENT)
    doc.get("revoked", type=Map)["R5"] = "[" * 3_000 + "]" * 3_000
    evil = await Attacker.dial(issue_identity(authority, "R9"), "R1", HOST, proc.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello(client_id=CLIENT))
        await evil.send(SyncUpdate(DENYLIST, doc.get_update()))

        def ignored() -> bool:  # (the node's log is written by a thread of its own)
            return "ignoring an invalid revocation entry for 'R5'" in proc.log.read_text()

        await until(ignored, 30, "the entry ignored", every=POLL_S)
    finally:
        await evil.close()
    assert await asyncio.to_thread(proc.status)
    await asyncio.to_thread(proc.kill)
    await asyncio.to_thread(proc.start)  # the entry is kept: read again (on main: no start)
    assert await asyncio.to_thread(proc.status)
    assert "Traceback" not in proc.log.read_text()
