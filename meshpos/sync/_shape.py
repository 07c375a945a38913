"""What a peer's Yjs update may hold before pycrdt decodes it: no value nested deeper than
``MAX_NESTING``.

**Changed** (outside, attacker, the twenty-third session). pycrdt (yrs) decodes a value of an update
(``ContentAny``: a map's plain value) recursively on the native stack. An enrolled device could crash
every node it reached, and the console its relay reached, with one sync update of 60 kB: an array
nested 30,000 deep inside a plain value (the process died of SIGSEGV in ``apply_update``, past any
``except``; at 10,000 it lived). A crashed node restarts, relinks, and is sent it again. So every
update a peer sends (a device, a relay, a stock Yjs client) is read here first, by the Synchronizer
before its first pycrdt call on it (``Exchange._apply``; :func:`check_update`), and refused with the
reason, as any malformed update is (the link closes, nothing is applied), if it holds a value nested
deeper than ``MAX_NESTING`` (the model's records travel as JSON text and nest at most
``model.limits.MAX_DEPTH``, 8, an older node's records as maps alike), or what a simple reader would
read differently from yrs and no device of the venue writes: a sub-document, an XML type, legacy
``ContentJSON`` (no Yjs since 13.0 writes it).

The reader follows yrs's v1 decoder over the struct section (the delete set that follows holds no
value); where it cannot follow, it refuses, and pycrdt would refuse the same update. It reads only an
update that could hold such a value at all: one with ``MAX_NESTING`` bytes or more that tag an array
or a map (117, 118), each level needing its own; a live update has a few (the letters ``u`` and ``v``
of its texts), so it costs a live update two ``bytes.count`` (~3.5 Python calls a received sale)
and a catch-up one pass (19,011 calls for a 1.4 MB day of 1,000 sales; ``docs/benchmarks.md``, the
twenty-third session, part ``attacker``). A sub-document, an XML type or JSON content in an update
too small to be read is harmless to pycrdt, and passes as before.

Not closed here: shared types nested in shared types. yrs deletes a type's children recursively too
(a map nested 100,000 deep, then deleted, crashed the process; 20,000 did not), and such a chain can
grow one level per update, so no reading of one update bounds it; an older node's orders nest two
levels (``model.ledger_layout``), so they cannot simply be refused. **Changed** (deep, the
twenty-fourth session): the document's depth index (``_depth``) closes it, read right after this
check (``Exchange._apply``): an update that would put a shared type deeper than 64 is refused the
same way (``tests/outside/test_deep_update.py``).
"""

from __future__ import annotations

from meshpos.errors import RemoteProtocolError

#: how deep a value may nest (arrays and maps inside a map's value); yrs's own recursion gave out
#: between 10,000 and 30,000 on an 8 MB stack, the model's records nest 8
MAX_NESTING = 64

_GC, _DELETED, _JSON, _BINARY, _STRING, _EMBED, _FORMAT, _TYPE, _ANY, _DOC, _SKIP = range(11)
_ARRAY, _OBJECT = 117, 118  # the tags of a value that holds values
_TEXT = 2  # the shared types an item may make: an array (0), a map (1), a text (2)


def check_update(update: bytes, what: str) -> None:
    """Raise RemoteProtocolError naming ``what`` (a sync update, a step 2) if ``update`` (Yjs v1)
    nests a value deeper than ``MAX_NESTING``, makes a shared type inside another or a sub-document,
    or cannot be read as yrs reads it."""
    if update.count(_ARRAY) + update.count(_OBJECT) < MAX_NESTING:
        return  # (a value nested that deep needs a tag byte per level: a live update has a few)
    try:
        _check(update)
    except IndexError:
        raise RemoteProtocolError(f"{what}: not a valid Yjs update (it ends early)") from None
    except RemoteProtocolError as exc:
        raise RemoteProtocolError(f"{what}: {exc.message}") from None


def _uint(data: bytes, pos: int) -> tuple[int, int]:
    """A var-uint at ``pos``: (value, the position after it). IndexError past the end."""
    byte = data[pos]
    if byte < 0x80:
        return byte, pos + 1
    value, shift = byte & 0x7F, 7
    while True:
        pos += 1
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos + 1
        shift += 7
        if shift > 63:
            raise RemoteProtocolError("a number longer than 9 bytes")


def _skip_string(data: bytes, pos: int) -> int:
    length = data[pos]
    if length < 0x80:
        end = pos + 1 + length
    else:
        length, pos = _uint(data, pos)
        end = pos + length
    if end > len(data):
        raise IndexError
    return end


def _check(data: bytes) -> None:
    # (numbers and lengths of one byte read inline: a catch-up is read whole, ~10 structs a sale)
    clients, pos = _uint(data, 0)
    for _ in range(clients):
        structs, pos = _uint(data, pos)
        for _ in range(2):  # the client id, its first clock
            while data[pos] & 0x80:
                pos += 1
            pos += 1
        for _ in range(structs):
            info = data[pos]
            pos += 1
            ref = info & 0x1F
            if ref in (_GC, _SKIP):
                while data[pos] & 0x80:
                    pos += 1
                pos += 1
                continue
            for _ in range((info >> 7) * 2 + (info >> 6 & 1) * 2):  # an origin's, a right one's id
                while data[pos] & 0x80:
                    pos += 1
                pos += 1
            if not info & 0xC0:  # the parent written out: a root's name, or an item's id
                parent = data[pos]
                pos += 1
                if parent >= 0x80:
                    parent, pos = _uint(data, pos - 1)
                if parent == 1:
                    length = data[pos]
                    pos += 1 + length if length < 0x80 else 0
                    if length >= 0x80:
                        pos = _skip_string(data, pos)
                else:
                    for _ in range(2):
                        while data[pos] & 0x80:
                            pos += 1
                        pos += 1
                if info & 0x20:  # the key in a map
                    length = data[pos]
                    pos += 1 + length if length < 0x80 else 0
                    if length >= 0x80:
                        pos = _skip_string(data, pos)
            if ref == _ANY:
                count = data[pos]
                pos += 1
                if count >= 0x80:
                    count, pos = _uint(data, pos - 1)
                for _ in range(count):
                    pos = _skip_any(data, pos, 1)
            elif ref in (_STRING, _EMBED, _BINARY):
                pos = _skip_string(data, pos)
            elif ref == _DELETED:
                while data[pos] & 0x80:
                    pos += 1
                pos += 1
            elif ref == _FORMAT:
                pos = _skip_string(data, _skip_string(data, pos))
            elif ref == _TYPE:  # (XML types carry a name; none is the venue's)
                if data[pos] > _TEXT:
                    raise RemoteProtocolError(f"a shared type of kind {data[pos]}")
                pos += 1
            elif ref == _DOC:
                raise RemoteProtocolError("makes a sub-document")
            elif ref == _JSON:
                raise RemoteProtocolError("holds legacy JSON content")
            else:
                raise RemoteProtocolError(f"unknown content ref {ref}")
    if pos > len(data):
        raise IndexError


def _skip_any(data: bytes, pos: int, depth: int) -> int:
    tag = data[pos]
    pos += 1
    if tag >= 120:  # undefined, null, a var-int, float32, float64, bigint, false, true
        if tag == 125:  # a signed var-int: bytes until one without the continuation bit
            while data[pos] & 0x80:
                pos += 1
            return pos + 1
        return pos + (4 if tag == 124 else 8 if tag in (123, 122) else 0)
    if tag in (119, 116):  # a string, a byte array
        return _skip_string(data, pos)
    if tag not in (_ARRAY, _OBJECT):
        raise RemoteProtocolError(f"unknown value tag {tag}")
    if depth >= MAX_NESTING:
        raise RemoteProtocolError(f"a value nested deeper than {MAX_NESTING}")
    count, pos = _uint(data, pos)
    if tag == _OBJECT:  # a map: a key, a value
        for _ in range(count):
            pos = _skip_any(data, _skip_string(data, pos), depth + 1)
    else:
        for _ in range(count):
            pos = _skip_any(data, pos, depth + 1)
    return pos
