"""The items of a Yjs v1 update, each with how it names its parent: what the depth index
(``_depth``) reads of every update a document takes, since pycrdt tells nothing of it.

In Yjs v1 an item writes out its parent (a root's name, or the id of the item that made the type)
only when it has neither origin nor right origin; otherwise its parent is its origin's (else its
right origin's). The reader follows yrs's decoder over the struct section (the delete set that
follows adds no item); where it cannot, it refuses, as pycrdt would. A GC struct is kept as a range
with nothing under it; a skip is a hole (nothing). Numbers and short strings are read inline: this
reads every update a peer sends, and a client id is 4-8 bytes."""

from __future__ import annotations

from meshpos.errors import RemoteProtocolError
from meshpos.sync._shape import _skip_any, _skip_string, _uint

_GC, _DELETED, _JSON, _BINARY, _STRING, _EMBED, _FORMAT, _TYPE, _ANY, _DOC, _SKIP = range(11)
_XML_ELEMENT, _XML_HOOK = 3, 5  # type refs followed by a name

#: how an item's parent depth is found: a root's (0), a parent's id (that type's depth), an origin's
ROOT, PARENT, ORIGIN = 0, 1, 2

#: a struct: client, first clock, end clock, how its parent is found, the client and clock of the
#: item it names (0s for a root), whether it makes a shared type
Struct = tuple[int, int, int, int, int, int, bool]


def structs_of(data: bytes) -> tuple[list[Struct], dict[int, tuple[int, int]]]:
    """Every item and GC struct of a Yjs v1 update (skips are holes: nothing), with how its parent
    is found, and each client's span of them; IndexError past the end, RemoteProtocolError for what
    yrs would not read either. (Numbers read inline: a client id is 4-8 bytes, and this reads
    every update a peer sends.)"""
    structs: list[Struct] = []
    spans: dict[int, tuple[int, int]] = {}
    clients, pos = (data[0], 1) if data[0] < 0x80 else _uint(data, 0)
    total = 0
    for _ in range(clients):
        count, pos = (data[pos], pos + 1) if data[pos] < 0x80 else _uint(data, pos)
        client = shift = 0
        while True:  # (inline: a client id is 4-8 bytes)
            byte = data[pos]
            pos += 1
            client |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
            if shift > 63:
                raise RemoteProtocolError("a number longer than 9 bytes")
        if data[pos] < 0x80:
            clock, pos = data[pos], pos + 1
        elif data[pos + 1] < 0x80:  # (a day's clocks: two bytes)
            clock, pos = data[pos] & 0x7F | data[pos + 1] << 7, pos + 2
        else:
            clock, pos = _uint(data, pos)
        if client in spans:
            raise RemoteProtocolError(f"lists client {client} twice")
        first = total
        for _ in range(count):
            info = data[pos]
            pos += 1
            ref = info & 0x1F
            if ref in (_GC, _SKIP):
                length, pos = _uint(data, pos)
                if ref == _GC:
                    structs.append((client, clock, clock + length, ROOT, 0, 0, False))
                    total += 1
                clock += length
                continue
            how, named_client, named_clock = ROOT, 0, 0
            named = 2 if info & 0xC0 == 0xC0 else 1 if info & 0xC0 else 0
            if not named:  # the parent written out: a root's name, or an item's id
                kind = data[pos]
                pos += 1
                if kind == 0:
                    how, named = PARENT, 1
                elif kind == 1:  # (a root's name: a short string read inline)
                    pos = pos + 1 + data[pos] if data[pos] < 0x80 else _skip_string(data, pos)
                else:
                    raise RemoteProtocolError(f"parent info {kind}")
            else:  # an origin (else a right origin): the parent is the one it names
                how = ORIGIN
            for turn in range(named):  # ids: the origin's, the right origin's; or the parent's
                number = shift = 0
                while True:  # the client
                    byte = data[pos]
                    pos += 1
                    number |= (byte & 0x7F) << shift
                    if byte < 0x80:
                        break
                    shift += 7
                    if shift > 63:
                        raise RemoteProtocolError("a number longer than 9 bytes")
                byte = data[pos]
                pos += 1
                if byte < 0x80:  # the clock
                    at = byte
                elif data[pos] < 0x80:
                    at = byte & 0x7F | data[pos] << 7
                    pos += 1
                else:
                    at, pos = _uint(data, pos - 1)
                if turn == 0:
                    named_client, named_clock = number, at
            if how != ORIGIN and info & 0x20:  # the key in a map
                pos = pos + 1 + data[pos] if data[pos] < 0x80 else _skip_string(data, pos)
            length = 1
            if ref == _ANY:
                length = data[pos]
                pos += 1
                if length >= 0x80:
                    length, pos = _uint(data, pos - 1)
                for _ in range(length):
                    if data[pos] != 119:
                        pos = _skip_any(data, pos, 1)
                    elif data[pos + 1] < 0x80:  # a string (a record's text): its length inline
                        pos += 2 + data[pos + 1]
                    elif data[pos + 2] < 0x80:
                        pos += 3 + (data[pos + 1] & 0x7F | data[pos + 2] << 7)
                    else:
                        pos = _skip_string(data, pos + 1)
            elif ref == _STRING:
                end = _skip_string(data, pos)
                length = _utf16_length(data, pos, end)
                pos = end
            elif ref == _JSON:
                length, pos = _uint(data, pos)
                for _ in range(length):
                    pos = _skip_string(data, pos)
            elif ref == _DELETED:
                length, pos = _uint(data, pos)
            elif ref in (_BINARY, _EMBED):
                pos = _skip_string(data, pos)
            elif ref == _FORMAT:
                pos = _skip_string(data, _skip_string(data, pos))
            elif ref == _TYPE:
                kind, pos = _uint(data, pos)
                if kind in (_XML_ELEMENT, _XML_HOOK):
                    pos = _skip_string(data, pos)
            elif ref == _DOC:
                pos = _skip_any(data, _skip_string(data, pos), 1)
            else:
                raise RemoteProtocolError(f"unknown content ref {ref}")
            if length < 1:
                raise RemoteProtocolError("an item of no length")
            structs.append(
                (client, clock, clock + length, how, named_client, named_clock, ref == _TYPE)
            )
            total += 1
            clock += length
        spans[client] = (first, total)
    if pos > len(data):
        raise IndexError
    return structs, spans


def _utf16_length(data: bytes, pos: int, end: int) -> int:
    """The length in UTF-16 units (Yjs's clock units) of the string whose var-length starts at ``pos``."""
    _, start = _uint(data, pos)
    text = data[start:end]
    if text.isascii():
        return len(text)
    try:
        return len(text.decode("utf-8").encode("utf-16-le")) // 2
    except UnicodeDecodeError:
        raise RemoteProtocolError("a string that is not UTF-8") from None
