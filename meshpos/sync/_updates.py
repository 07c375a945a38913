"""Questions about a Yjs update that pycrdt does not answer directly, answered with pycrdt's own decoder.

``has_structs_from(update, {client: clock})`` tells whether ``update`` carries any struct of ``client`` at or
after ``clock``: the update is diffed once against a state vector that claims those clients only up to
``clock`` and once against one that claims them completely; the two differ exactly when such structs exist.
(pycrdt's ``get_state(update)`` cannot be used: it is empty for an update with a gap.) The two diffs are
compared by length, not bytes: pycrdt re-encodes the update and does not keep the order of the keys of a
JSON-like value (nor of clients), so equal diffs can differ byte for byte; a struct left out always
shortens the encoding.

Each of those diffs decodes the whole update, which for a day's catch-up (10 MB) costs as much as applying
it. ``clear_of_structs_from`` answers the common case with one decode, which also proves the update valid.
Cheaper still, ``header_authors`` reads the answer off the first bytes when an update has at most one
author, as every live update does and every piece of a split step 2 (``split_by_author``).

**Changed** (issue 18, receiver, the twentieth session): the state vector read before every received
update (``held_state``) goes through yrs directly (``state_of``: the same bytes, without pycrdt's
Python transaction object around an empty read-write transaction).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pycrdt import Doc, get_state, get_update

from meshpos.lib0 import MAX_VAR_UINT, Reader, write_var_uint
from meshpos.model.replica import encode_state_vector

EMPTY_UPDATE = b"\x00\x00"
EMPTY_STATE_VECTOR = b"\x00"
#: client ids one document may hold changes of. The heartbeat's decoder takes at most 4,096 per state
#: vector (``_bodies.MAX_STATE_CLIENTS``): an enrolled device that sent a day changes under 5,000 made
#: ids made the console's state of it undecodable, and every node closed its session with the console
#: on every beat (nothing uploaded again). A day holds one per device run and Yjs client: hundreds.
MAX_DOC_CLIENTS = 2048
TOO_MANY_CLIENTS = f"changes of over {MAX_DOC_CLIENTS} client ids"  # (the refusal's reason)


def has_structs_from(update: bytes, lower: Mapping[int, int]) -> bool:
    if not lower:
        return False
    below = get_update(update, encode_state_vector(dict(lower)))
    full = get_update(update, encode_state_vector(dict.fromkeys(lower, MAX_VAR_UINT)))
    return len(below) != len(full)


def clear_of_structs_from(update: bytes, lower: Mapping[int, int], known: Iterable[int]) -> bool:
    """True if ``update`` has no struct of a ``lower`` client at or after its clock: one decode.

    The diff claims every ``known`` client complete and the ``lower`` ones up to their clocks, so it keeps
    only the structs in question and those of clients never seen; it is empty of structs (its first
    var-uint, the number of clients, is 0) only if there are none. False means "maybe" (a new client
    also gives False): ask ``has_structs_from``. Raises whatever pycrdt raises for an invalid update.
    """
    claims = dict.fromkeys(known, MAX_VAR_UINT)
    claims.update(lower)
    return get_update(update, encode_state_vector(claims))[0] == 0


def header_authors(update: bytes) -> frozenset[int] | None:
    """The clients whose structs ``update`` carries, when its header alone tells; None when it does not.

    A v1 update opens with its number of clients, then the first client's struct count and id. With no
    client there is no struct; with one, every struct is that client's (a struct's id is its group's client
    plus an offset). Several clients take a decode. Raises RemoteProtocolError if the header is unreadable.
    """
    count, client, _ = _header(update)
    if count > 1:
        return None
    return frozenset() if count == 0 else frozenset({client})


def clients_past_bound(update: bytes, clocks: Mapping[int, int]) -> int:
    """How many client ids past :data:`MAX_DOC_CLIENTS` a document holding ``clocks`` would hold
    changes of with ``update`` (0: within). Read off the header while the document is far from the
    bound (every update but an attacker's); else one decode of the update's state vector."""
    count = _header(update)[0]
    if len(clocks) + count <= MAX_DOC_CLIENTS:
        return 0
    values = list(map(_uint, _VAR_UINT.findall(get_state(update))))
    new = set(values[1::2]) - clocks.keys()
    return max(0, len(clocks) + len(new) - MAX_DOC_CLIENTS)


def header_start(update: bytes) -> tuple[int, int] | None:
    """(client, clock of its first struct) of an update with exactly one author, read off its header
    (as :func:`header_authors`); None for none or several. An update whose first clock is beyond what
    a document holds of that client arrived out of its author's order: pycrdt keeps it pending."""
    count, client, clock = _header(update)
    return (client, clock) if count == 1 else None


def _header(update: bytes) -> tuple[int, int, int]:
    """(number of clients, first client, its first clock) of ``update`` (0s past a count of 0 or more
    than 1). A received update's header is asked for by its check, its apply and its forwarding (the
    last with the transaction's update, equal bytes): the last one read is kept."""
    global _LAST_HEADER
    last, found = _LAST_HEADER
    if update is last or update == last:
        return found
    reader = Reader(update)
    count = reader.read_var_uint("update header: number of clients")
    client = clock = 0
    if count == 1:
        reader.read_var_uint("update header: number of structs")
        client = reader.read_var_uint("update header: client id")
        clock = reader.read_var_uint("update header: first clock")
    found = (count, client, clock)
    if len(update) <= 65536:  # a live update's, not a catch-up's megabytes kept alive
        _LAST_HEADER = (update, found)
    return found


_LAST_HEADER: tuple[bytes | None, tuple[int, int, int]] = (None, (0, 0, 0))


def split_by_author(
    doc: Doc[Any], theirs: Mapping[int, int], behind: Iterable[int], clocks: Mapping[int, int]
) -> list[bytes]:
    """What ``theirs`` lacks of ``doc`` as one update per author: each client in ``behind`` (those ``doc``
    holds more of; ``clocks`` is its state vector). Together they equal ``doc.get_update(theirs)``; each
    repeats the delete set. A receiver reads each one's author off its header instead of decoding it.
    """
    pieces = []
    for client in behind:
        claims = dict.fromkeys(clocks, MAX_VAR_UINT)
        claims[client] = theirs.get(client, 0)
        pieces.append(doc.get_update(encode_state_vector(claims)))
    return pieces


def held_clocks(doc: Doc[Any]) -> Mapping[int, int]:
    """``doc``'s state vector as {client: clock}: the same as ``decode_state_vector(doc.get_state())``
    for bytes pycrdt made itself (well formed by construction, so not checked), several times faster.
    Every received update asks for it (its authors' clocks decide whether and how it is applied), and
    asks again after it is applied (:func:`past_holes`): that state is the next update's, so each
    state's parse is kept (:data:`_HELD`), shared: the mapping must not be changed."""
    return held_state(doc)[1]


def state_of(doc: Doc[Any]) -> bytes:
    """``doc.get_state()``, the same bytes, without pycrdt's Python transaction around the read
    when none is open (and the document takes no other thread's transactions): a read-write
    transaction made, read and dropped in yrs directly (dropping commits it, as ``get_state``'s
    own exit does; nothing changed, so no observer runs). pycrdt's wrapper (a ``Transaction``
    object, its enter, its exit's commit, origin and exception checks) cost ~3 µs of a ~5 µs read
    of a day's state, asked once a received update (:func:`held_state`); inside a transaction
    (an observer's read) pycrdt's own path reuses that one, as before.

    **Changed** (issue 18, receiver, the twentieth session)."""
    if doc._txn is not None or doc._allow_multithreading:
        return doc.get_state()
    inner = doc._doc
    txn = inner.create_transaction()
    try:
        return inner.get_state(txn)
    finally:
        txn.drop()


def held_state(doc: Doc[Any]) -> tuple[bytes, Mapping[int, int]]:
    """``doc``'s state vector, as pycrdt encodes it and as :func:`held_clocks` reads it. A state
    not seen yet is most often ``doc``'s last one with one author's clock moved (the update just
    applied): its parse is derived from that one's (:func:`_derive`: ~5 µs whatever the clients,
    where a whole parse costs ~0.7 µs per client), else parsed whole."""
    state = state_of(doc)
    found = _HELD.get(state)
    if found is None:
        last = _LAST.get(id(doc))  # (any state would do: a derivation is checked byte for byte)
        found = _derive(last, state) if last is not None and len(state) > _DERIVE_PAST else None
        if found is None:
            found = _parse_state(state)
        if len(_LAST) >= _MAX_HELD:
            _LAST.clear()
        _LAST[id(doc)] = state
    return state, found


def new_authors(
    update: bytes, state: bytes
) -> tuple[frozenset[int] | None, tuple[int, int] | None]:
    """Who brings anything new in ``update`` (of several authors, a reply or a catch-up) to a
    document whose state vector is ``state``: (the authors, (client, first clock) when it is one) as
    :func:`header_authors` and :func:`header_start` read them off the part of ``update`` that
    ``state`` lacks (one decode: pycrdt's diff of ``update`` keeps every struct at or past the
    state's clock, past a gap too). No author: every struct of it is held already."""
    count, client, clock = _header(get_update(update, state))
    if count > 1:
        return None, None
    return (frozenset(), None) if count == 0 else (frozenset({client}), (client, clock))


def _parse_state(state: bytes) -> dict[int, int]:
    """Parse (and keep) a state vector pycrdt made: its var-uints are cut by one regular expression and
    each one's value is looked up (client ids repeat from state to state, and so do most clocks),
    instead of a Python loop over every byte (~40 µs for a day of 40 clients: one per received update)."""
    values = list(map(_uint, _VAR_UINT.findall(state)))
    if len(_HELD) >= _MAX_HELD:
        _HELD.clear()
    found = _HELD[state] = dict(zip(values[1::2], values[2::2], strict=True))
    return found


def _derive(last: bytes, state: bytes) -> dict[int, int] | None:
    """The parse of ``state`` from that of ``last`` (kept in :data:`_HELD`) when ``state`` is
    ``last`` with one clock's var-uint replaced by another (whatever its length): the bytes before
    that clock and after it are equal, and what lies between is one var-uint. A var-uint ends at
    its only byte below 0x80, so both split into the same var-uints but that one: the same
    clients in the same order, one clock new. None when it is not so (a new client, several
    clocks moved, an order of entries pycrdt changed): the caller parses ``state`` whole."""
    parse = _HELD.get(last)
    if parse is None or last == state:
        return None
    start = _mismatch(last, state)  # back to the var-uint of ``last`` holding it
    if start >= len(last):
        return None
    start = _var_uint_start(last, start)
    # var-uints before it: the count, then (client, clock) pairs; a clock is an even one (from 2)
    before = len(last[:start].translate(None, _HIGH))
    if before < 2 or before % 2:
        return None
    end = start
    while end < len(last) and last[end] >= 0x80:
        end += 1
    if end >= len(last):
        return None
    tail = len(last) - end - 1  # bytes after that clock
    if len(state) - tail <= start or state[len(state) - tail :] != last[end + 1 :]:
        return None
    clock = state[start : len(state) - tail]
    if len(clock.translate(None, _HIGH)) != 1 or clock[-1] >= 0x80:
        return None  # not one var-uint
    first = _var_uint_start(last, start - 1)  # the client's var-uint, before that clock
    client = _uint(last[first:start])
    if parse.get(client) != _uint(last[start : end + 1]):
        return None  # (pycrdt never repeats a client; a parse of such bytes keeps the last)
    found = dict(parse)
    found[client] = _uint(clock)
    if len(_HELD) >= _MAX_HELD:
        _HELD.clear()
    _HELD[state] = found
    return found


def _var_uint_start(data: bytes, at: int) -> int:
    """Where the var-uint holding ``data[at]`` starts: just after a byte below 0x80, or at 0."""
    while at > 0 and data[at - 1] >= 0x80:
        at -= 1
    return at


def _mismatch(a: bytes, b: bytes) -> int:
    """The first index at which ``a`` and ``b`` differ, or the shorter one's length: the highest
    set bit of their first bytes read as one big-endian number each, xored."""
    size = min(len(a), len(b))
    bits = int.from_bytes(a[:size], "big") ^ int.from_bytes(b[:size], "big")
    return size - 1 - (bits.bit_length() - 1) // 8 if bits else size


#: bytes with the high bit set: deleted, what is left counts a run's var-uints (:func:`_derive`)
_HIGH = bytes(range(0x80, 0x100))
#: one var-uint: continuation bytes (high bit set), then its last byte
_VAR_UINT = re.compile(rb"[\x80-\xff]*[\x00-\x7f]")


@functools.lru_cache(maxsize=8192)
def _uint(data: bytes) -> int:
    """The value of one var-uint's bytes (:data:`_VAR_UINT`)."""
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
    return value


_HELD: dict[bytes, dict[int, int]] = {}  # a state vector's bytes -> its parse (:func:`held_clocks`)
_LAST: dict[int, bytes] = {}  # id of a document -> its last state seen (:func:`held_state`)
_DERIVE_PAST = 40  # bytes of a state vector (~4 clients) below which a whole parse is as cheap
_MAX_HELD = 256  # a few per open document: this one and its last states


def _var_uint(num: int) -> bytes:
    """``write_var_uint`` for numbers we hold (no range check), with the usual client ids cached."""
    found = _ENCODED.get(num)
    if found is not None:
        return found
    out = bytearray()
    while num > 127:
        out.append(0x80 | (num & 0x7F))
        num >>= 7
    out.append(num)
    return bytes(out)


def _client_id(client: int) -> bytes:
    encoded = _ENCODED.get(client)
    if encoded is None:
        if len(_ENCODED) >= _MAX_ENCODED:
            _ENCODED.clear()
        encoded = _ENCODED[client] = _var_uint(client)
    return encoded


_ENCODED: dict[int, bytes] = {}  # client id -> its var-uint (a day holds a few dozen clients)
_MAX_ENCODED = 4096
_COMPLETE = write_var_uint(MAX_VAR_UINT)


def past_holes(
    doc: Doc[Any], authors: Iterable[int] | None = None, clocks: Mapping[int, int] | None = None
) -> dict[int, bytes]:
    """What ``doc`` holds past a hole in an author's clocks: author -> an update with it.

    pycrdt (yrs) integrates structs that arrive ahead of their author's order when their parents are
    present; the state vector stops at the hole, so the transaction's update (and any diff against a
    state vector) leaves them out. For each author, a diff from its last clock (an author listed at
    clock 0 holds nothing before the hole) carries one struct when there is no hole, and a skip and the
    structs past it when there is one (read off the header: the author's number of structs). Only
    ``authors`` are checked when given (an author the document holds nothing of has no hole).
    ``clocks``: ``doc``'s state vector when the caller has it (:func:`held_clocks`).

    It runs after every received update, so the state vectors it asks with are built from cached
    bytes (the order of a state vector's entries means nothing to the decoder)."""
    if clocks is None:
        clocks = held_clocks(doc)
    pieces = {}
    for client in clocks if authors is None else authors:
        if client not in clocks:
            continue
        clock = clocks[client]
        others = b"".join(_client_id(other) + _COMPLETE for other in clocks if other != client)
        if clock:
            claims = _var_uint(len(clocks)) + others + _client_id(client) + _var_uint(clock - 1)
        else:
            claims = _var_uint(len(clocks) - 1) + others
        piece = doc.get_update(claims)
        reader = Reader(piece)
        if reader.read_var_uint("update header: number of clients") == 0:
            continue
        if reader.read_var_uint("update header: number of structs") > (1 if clock else 0):
            pieces[client] = piece
    return pieces
