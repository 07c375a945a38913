"""Who wrote which key of a root map, read off a Yjs v1 update: what pycrdt does not tell.

A kitchen screen acknowledges a ticket it holds by writing ``held/<ticket id>/<its device id>``
(``meshpos.model.kitchen``). The write rules check a document per role only, so a register or another
screen could write that key for a screen that never held the ticket, and the register that sent it would
be told it is safe on that screen. ``new_keys_by_author`` reads, from an update, each new key set in a
root map with the client id that wrote it, so the receive path can refuse an acknowledgement whose author
is known to be another device (``Exchange._apply``).

Only a new key names its parent and key in the struct itself; a later write of the same key names the
item it follows instead, so it is not listed (for an acknowledgement: the screen already held the
ticket). Deletions carry no author in Yjs. The reader is bounds-checked like every read of what a peer
sends (``meshpos.lib0.Reader``): anything malformed is a RemoteProtocolError.
"""

from __future__ import annotations

from meshpos.errors import RemoteProtocolError
from meshpos.lib0 import Reader

_MAX_ANY_DEPTH = 64  # nesting of a JSON-like value a peer may send before we stop reading it
_XML_ELEMENT, _XML_HOOK = 3, 5  # type refs followed by a name


def new_keys_by_author(update: bytes, root: str) -> list[tuple[int, str]]:
    """(client id, key) of every struct in ``update`` that sets a new key of the root map ``root``."""
    reader = Reader(update)
    found: list[tuple[int, str]] = []
    for _ in range(reader.read_var_uint("update: number of clients")):
        structs = reader.read_var_uint("update: number of structs")
        client = reader.read_var_uint("update: client id")
        reader.read_var_uint("update: first clock")
        for _ in range(structs):
            info = reader.read_byte("update: struct info")
            ref = info & 0x1F
            if ref in (0, 10):  # GC or Skip: a length
                reader.read_var_uint("update: struct length")
                continue
            if info & 0x80:  # origin
                reader.read_var_uint("update: origin client")
                reader.read_var_uint("update: origin clock")
            if info & 0x40:  # right origin
                reader.read_var_uint("update: right origin client")
                reader.read_var_uint("update: right origin clock")
            parent = None
            key = None
            if not info & 0xC0:  # no origin: the parent (and key) are written out
                if reader.read_var_uint("update: parent info") == 1:
                    parent = reader.read_var_string("update: parent root name")
                else:
                    reader.read_var_uint("update: parent client")
                    reader.read_var_uint("update: parent clock")
                if info & 0x20:
                    key = reader.read_var_string("update: parent key")
            _skip_content(reader, ref)
            if parent == root and key is not None:
                found.append((client, key))
    return found


def _skip_content(reader: Reader, ref: int) -> None:
    if ref == 1:  # deleted
        reader.read_var_uint("update: deleted length")
    elif ref == 2:  # JSON
        for _ in range(reader.read_var_uint("update: JSON length")):
            reader.read_var_string("update: JSON value")
    elif ref == 3:  # binary
        reader.read_var_bytes("update: binary")
    elif ref in (4, 5):  # string, embed
        reader.read_var_string("update: string")
    elif ref == 6:  # format
        reader.read_var_string("update: format key")
        reader.read_var_string("update: format value")
    elif ref == 7:  # type
        if reader.read_var_uint("update: type ref") in (_XML_ELEMENT, _XML_HOOK):
            reader.read_var_string("update: type name")
    elif ref == 8:  # any
        for _ in range(reader.read_var_uint("update: any length")):
            _skip_any(reader, 0)
    elif ref == 9:  # sub-document
        reader.read_var_string("update: document guid")
        _skip_any(reader, 0)
    else:
        raise RemoteProtocolError(f"update: unknown content ref {ref}")


def _skip_any(reader: Reader, depth: int) -> None:
    if depth > _MAX_ANY_DEPTH:
        raise RemoteProtocolError(f"update: a value nested deeper than {_MAX_ANY_DEPTH}")
    tag = reader.read_byte("update: value tag")
    if tag in (127, 126, 121, 120):  # undefined, null, false, true
        return
    if tag == 125:  # a signed var int: bytes until one without the continuation bit
        while reader.read_byte("update: integer") & 0x80:
            pass
    elif tag == 124:
        reader.read_bytes(4, "update: float32")
    elif tag in (123, 122):
        reader.read_bytes(8, "update: float64 or bigint")
    elif tag == 119:
        reader.read_var_string("update: string value")
    elif tag == 118:  # object
        for _ in range(reader.read_var_uint("update: object size")):
            reader.read_var_string("update: object key")
            _skip_any(reader, depth + 1)
    elif tag == 117:  # array
        for _ in range(reader.read_var_uint("update: array size")):
            _skip_any(reader, depth + 1)
    elif tag == 116:
        reader.read_var_bytes("update: bytes value")
    else:
        raise RemoteProtocolError(f"update: unknown value tag {tag}")
