"""An enrolled register whose owner runs modified code sends a real ``meshpos node`` one sync update of
60 kB: a plain value (``ContentAny``) holding an array nested 30,000 deep, in a document a register may
write. pycrdt decodes such a value recursively on the native stack: the node died of SIGSEGV in its
first decode (no error to catch, no log line), and would again at every relink (the outside round of
the twenty-third session, part ``attacker``). Now the Synchronizer reads the update's shape before any
pycrdt call (``sync/_shape.py``): the link closes with the reason in the goodbye and the node's log,
nothing is applied, the node keeps serving, and it refuses the same update again on the next link.

On main: the node's process is gone after the first send (exit -11), ``status`` is refused.

**Changed** (deep, the twenty-fourth session): maps nested in maps 100,000 deep, made and deleted in one
update of 983 kB, killed the node the same way (yrs deletes a type's children recursively: a strict
xfail here until then), and such a chain can grow one level per update, which no reading of one update
bounds. Now each document's depth index (``sync/_depth.py``, rebuilt from the store at start) refuses
an update that would put a shared type deeper than 64: the link closes with the reason, nothing is
applied, also after a restart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pycrdt import Doc

from meshpos.harness.wait import POLL_S, until
from meshpos.lib0 import write_var_string, write_var_uint
from meshpos.model.documents import STOPLIST
from meshpos.model.replica import decode_state_vector
from meshpos.sync import SyncStep2, SyncUpdate
from meshpos.trust import DeviceIdentity, VenueAuthority

from ..mesh.attacker import Attacker
from ..mesh.kit import NodeProcess
from ..trust.helpers import issue_identity

HOST = "127.0.0.1"
DEPTH = 30_000  # 10,000 decoded on an 8 MB stack, 30,000 did not
REASON = "a value nested deeper than 64"
CLIENT = (
    4242  # the attacker's client id, announced in its hello: a register may write the stop list
)


def map_chain(depth: int, client: int = CLIENT) -> bytes:
    """A Yjs v1 update: ``items["evil"] =`` a map holding a map under ``k`` ... ``depth`` maps, each
    after the first naming the one before by its id; and a deletion of the first."""
    parts = [write_var_uint(1), write_var_uint(depth), write_var_uint(client), write_var_uint(0)]
    parts += [bytes([0x20 | 7]), write_var_uint(1), write_var_string("items")]
    parts += [write_var_string("evil"), bytes([1])]  # (a map)
    for clock in range(depth - 1):
        parts += [bytes([0x20 | 7]), write_var_uint(0), write_var_uint(client)]
        parts += [write_var_uint(clock), write_var_string("k"), bytes([1])]
    deleted = [write_var_uint(client), write_var_uint(1), write_var_uint(0), write_var_uint(1)]
    return b"".join([*parts, write_var_uint(1), *deleted])


def deep_update(depth: int, client: int = CLIENT) -> bytes:
    """A Yjs v1 update of one struct: ``items["evil"] =`` an array in an array ... ``depth`` deep."""
    return b"".join(
        [
            write_var_uint(1),  # one client
            write_var_uint(1),  # one struct
            write_var_uint(client),
            write_var_uint(0),  # its first clock
            bytes([0x20 | 8]),  # an item with a key, its content a value (``ContentAny``)
            write_var_uint(1),  # its parent: a root map, by name
            write_var_string("items"),
            write_var_string("evil"),
            write_var_uint(1),  # one value
            bytes([117, 1]) * depth,  # an array of one ...
            bytes([126]),  # ... null
            write_var_uint(0),  # no deletions
        ]
    )


async def _stoplist(authority: VenueAuthority, node: NodeProcess, device: str) -> bytes:
    """The node's stop list as a device of the venue reads it (a fresh link)."""
    reader = await Attacker.dial(issue_identity(authority, device), "R1", HOST, node.port)
    try:
        await reader.wait_for_hello()
        await reader.send(reader.hello(client_id=7000 + len(device)))
        return await reader.fetch(STOPLIST)
    finally:
        await reader.close()


@pytest.mark.parametrize("kind", [SyncUpdate, SyncStep2])
async def test_a_value_nested_30000_deep_closes_the_link_and_the_node_lives(
    node: tuple[VenueAuthority, NodeProcess], kind: type[SyncUpdate] | type[SyncStep2]
) -> None:
    authority, proc = node
    update = deep_update(DEPTH)
    assert len(update) < 61_000
    before = await _stoplist(authority, proc, "R8")
    evil_identity = issue_identity(authority, "R9")
    for attempt in range(2):  # refused again on the next link: nothing was kept of it
        evil = await Attacker.dial(evil_identity, "R1", HOST, proc.port)
        try:
            await evil.wait_for_hello()
            await evil.send(evil.hello(client_id=CLIENT))
            await evil.send(kind(STOPLIST, update))
            async with asyncio.timeout(30):
                await evil.wait_closed()
        finally:
            await evil.close()
        status = await asyncio.to_thread(proc.status)  # on main: refused, the process died (-11)
        assert status, attempt
        assert len(evil.byes) == 1, evil.byes
        assert REASON in evil.byes[0], evil.byes

    def refusals_logged() -> int:  # (the node's log is written by a thread of its own)
        lines = proc.log.read_text().splitlines()
        return sum("closing session with R9: " in line and REASON in line for line in lines)

    # logged, a line per window for a repeated cause (``ops/logs.RepeatFilter``: the attacker's to vary)
    await until(lambda: refusals_logged() >= 1, 30, "the refusal logged", every=POLL_S)
    log = proc.log.read_text()
    assert "Traceback" not in log
    assert await _stoplist(authority, proc, "R7") == before  # nothing applied


async def test_maps_nested_100000_deep_and_deleted_close_the_link_and_the_node_lives(
    node: tuple[VenueAuthority, NodeProcess],
) -> None:
    authority, proc = node
    update = map_chain(100_000)
    assert len(update) < 2**20
    evil = await Attacker.dial(issue_identity(authority, "R9"), "R1", HOST, proc.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello(client_id=CLIENT))
        await evil.send(SyncUpdate(STOPLIST, update))
        async with asyncio.timeout(30):
            await evil.wait_closed()
    finally:
        await evil.close()
    assert await asyncio.to_thread(proc.status)  # on 44bfb67: refused, the process died (-11)
    assert len(evil.byes) == 1, evil.byes
    assert TYPE_REASON in evil.byes[0], evil.byes


def chain_level(level: int, client: int = CLIENT) -> bytes:
    """A Yjs v1 update of one map at clock ``level``: ``items["evil"]`` for 0, else a map under key
    ``k`` of the map made at ``level - 1`` (its parent named by id): the chain one level deeper."""
    parts = [write_var_uint(1), write_var_uint(1), write_var_uint(client), write_var_uint(level)]
    if level == 0:
        parts += [bytes([0x20 | 7]), write_var_uint(1), write_var_string("items")]
        parts += [write_var_string("evil"), bytes([1])]
    else:
        parts += [bytes([0x20 | 7]), write_var_uint(0), write_var_uint(client)]
        parts += [write_var_uint(level - 1), write_var_string("k"), bytes([1])]
    return b"".join([*parts, write_var_uint(0)])


TYPE_REASON = "a shared type nested deeper than 64"


async def _refused(identity: DeviceIdentity, proc: NodeProcess, update: bytes) -> None:
    """``update`` sent on a new link of the attacker's device: the link closes with the reason."""
    evil = await Attacker.dial(identity, "R1", HOST, proc.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello(client_id=CLIENT))
        await evil.send(SyncUpdate(STOPLIST, update))
        async with asyncio.timeout(30):
            await evil.wait_closed()
    finally:
        await evil.close()
    assert len(evil.byes) == 1, evil.byes
    assert TYPE_REASON in evil.byes[0], evil.byes


async def test_a_chain_of_maps_grown_one_level_per_update_stops_at_64_also_after_a_restart(
    node: tuple[VenueAuthority, NodeProcess],
) -> None:
    """Each update alone nests nothing (one map, its parent named by id): only the node's own
    knowledge of the document (``sync/_depth.py``, rebuilt from the store at start) refuses the 65th
    level. On main every level is taken, so a chain grows until its deletion kills the node."""
    authority, proc = node
    identity = issue_identity(authority, "R9")
    evil = await Attacker.dial(identity, "R1", HOST, proc.port)
    try:
        await evil.wait_for_hello()
        await evil.send(evil.hello(client_id=CLIENT))
        for level in range(64):  # depths 1 ... 64: taken
            await evil.send(SyncUpdate(STOPLIST, chain_level(level)))
        held = await evil.fetch(STOPLIST)  # (answered after the updates sent before it)
        assert not evil.closed, evil.byes
    finally:
        await evil.close()
    check: Doc[Any] = Doc()
    check.apply_update(held)
    assert decode_state_vector(check.get_state()).get(CLIENT) == 64  # all 64 levels held
    await _refused(identity, proc, chain_level(64))
    assert await asyncio.to_thread(proc.status)
    assert await _stoplist(authority, proc, "R7") == held  # nothing applied of the 65th
    await asyncio.to_thread(proc.stop)
    await asyncio.to_thread(proc.start)
    await _refused(identity, proc, chain_level(64))  # the index rebuilt from the store
    assert await asyncio.to_thread(proc.status)
    assert await _stoplist(authority, proc, "R6") == held
    assert "Traceback" not in proc.log.read_text()
