"""Re-keying one model-written business day into many: what lets ``bench history`` build a year in minutes.

The model sells about a thousand receipts a second, so a year of 1,000-receipt days written sale by sale
would take most of an hour. Instead a few days are sold through the model on a template date with template
ids, and each closed day of the fixture is one of them with every day-specific value rewritten inside the
Yjs update itself (the v1 update format is walked struct by struct, never patched blindly):

* record ids and the map keys that are ids (``00000000-kkkk-4000-8000-nnnnnnnnnnnn``): the first eight hex
  digits become the day's tag, so ids are unique across days and still unique within one;
* times (``at`` and every number inside the template date) and clock stamps move to the day's date;
  an order's map keys (``lines/<id>``) keep their part and get the day's id;
* receipt numbers (``R1-000291``), their ``seq`` and the order's ``receipts/<id>`` index continue the
  register's one series, so numbers never repeat across the whole history.

A record stored as JSON text (the insert-only facts: ``model/_writes.put_record``) is cut the same way inside
its text, and re-prefixed with its new length when rendered (a ``seq`` may gain a digit).

Everything else (structure, client id, item clocks, amounts, names) is the model's own bytes. A rendered
day is checked by reading it back through :class:`meshpos.model.Ledger` (:func:`verify_day`).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc

from meshpos.errors import MeshposError
from meshpos.model import Ledger, business_date

TEMPLATE_TAG = "00000000"
DAY_MS = 86_400_000
_ID = re.compile(TEMPLATE_TAG + r"-[0-9a-f]{4}-4000-8000-[0-9a-f]{12}")
_STAMP = re.compile(r"(\d{13})\.\d{5}\.")

# hole kinds: what a rendered day puts in place of a template value
_ID_TAG, _TIME, _STAMP_MS, _NUMBER, _SEQ, _SEQ_TEXT, _TIME_TEXT, _TEXT = range(8)


def template_id(template: int, n: int) -> str:
    """The ``n``-th id of template ``template``, shaped like a uuid; :func:`day_tag` replaces its head."""
    return f"{TEMPLATE_TAG}-{template:04x}-4000-8000-{n:012x}"


def day_tag(index: int) -> bytes:
    """The eight hex digits that start every id of fixture day ``index`` (0 is the templates' own)."""
    if not 0 < index < 1 << 32:
        raise MeshposError(f"day tag {index} is out of range")
    return f"{index:08x}".encode()


class RekeyError(MeshposError):
    """The template holds something the re-keyer does not understand; no fixture is written from it."""

    code = "bench_fixture"


@dataclass(slots=True)
class Template:
    """A day's update cut at every day-specific value: ``parts`` are literal bytes, a hole between two."""

    date: str  # the template's business date: its times lie in that day
    device: str
    receipts: int
    parts: list[bytes] = field(default_factory=list)
    holes: list[tuple[int, int]] = field(default_factory=list)  # (kind, template value)
    texts: list[Cut] = field(default_factory=list)  # a _TEXT hole's value indexes this


@dataclass(slots=True)
class Cut:
    """A record's JSON text cut at its day-specific values (rendered with its length in front)."""

    parts: list[bytes]
    holes: list[tuple[int, int]]


def _number(value: float) -> bytes:
    """A number as yrs writes an ``Any``: float32 when exact, else float64 (pycrdt stores ints as floats)."""
    packed = struct.pack(">f", value)
    if struct.unpack(">f", packed)[0] == value:
        return b"\x7c" + packed
    return b"\x7b" + struct.pack(">d", value)


def render(template: Template, tag: bytes, shift_ms: int, seq_offset: int) -> bytes:
    """The template as another day: ids tagged ``tag``, times moved ``shift_ms``, numbers + ``seq_offset``."""
    texts = [
        _with_length(_join(cut.parts, _fills(cut.holes, tag, shift_ms, seq_offset, [])))
        for cut in template.texts
    ]
    return _join(template.parts, _fills(template.holes, tag, shift_ms, seq_offset, texts))


def _fills(
    holes: list[tuple[int, int]], tag: bytes, shift_ms: int, seq_offset: int, texts: list[bytes]
) -> list[bytes]:
    fills: list[bytes] = []
    for kind, value in holes:
        if kind == _ID_TAG:
            fills.append(tag)
        elif kind == _TIME:
            fills.append(_number(value + shift_ms))
        elif kind == _STAMP_MS:
            fills.append(b"%013d" % (value + shift_ms))
        elif kind == _NUMBER:
            text = b"%06d" % (value + seq_offset)
            if len(text) != 6:
                raise RekeyError(f"receipt sequence {value + seq_offset} needs more than 6 digits")
            fills.append(text)
        elif kind == _SEQ_TEXT:
            fills.append(b"%d" % (value + seq_offset))
        elif kind == _TIME_TEXT:
            fills.append(b"%d" % (value + shift_ms))
        elif kind == _TEXT:
            fills.append(texts[value])
        else:
            fills.append(_number(value + seq_offset))
    return fills


def _join(parts: list[bytes], fills: list[bytes]) -> bytes:
    out: list[bytes] = [b""] * (2 * len(fills) + 1)
    out[0::2] = parts
    out[1::2] = fills
    return b"".join(out)


def _with_length(text: bytes) -> bytes:
    """``text`` as lib0 writes a string: its length in bytes as a var-uint, then the bytes."""
    n, out = len(text), bytearray()
    while n >= 0x80:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out) + text


def cut(update: bytes, date: str, device: str, receipts: int, cutoff_hour: int) -> Template:
    """Walk a v1 update of ``ledger/<date>`` and mark every day-specific value (see the module doc);
    the business day starts at ``cutoff_hour`` (UTC)."""
    walker = _Walker(update, day_start_ms(date) + cutoff_hour * 3_600_000, device)
    walker.walk()
    template = Template(date, device, receipts, walker.parts, walker.holes, walker.texts)
    template.parts.append(update[walker.mark :])
    return template


def day_start_ms(date: str) -> int:
    """Midnight UTC of ``date`` in ms (the sample venue's timezone is UTC)."""
    import datetime as dt

    day = dt.date.fromisoformat(date)
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


class _Walker:
    """lib0 / Yjs update v1 decoding (yjs ``readClientsStructRefs``, ``readItemContent``, ``readAny``)."""

    def __init__(self, data: bytes, opens_ms: int, device: str) -> None:
        self.data = data
        self.i = 0
        self.mark = 0
        self.parts: list[bytes] = []
        self.holes: list[tuple[int, int]] = []
        self.lo = opens_ms
        self.hi = self.lo + DAY_MS
        self.number = re.compile(re.escape(device) + r"-(\d{6})")
        self.number_at = len(device) + 1
        self.in_text = re.compile(
            rb"(?P<id>" + TEMPLATE_TAG.encode() + rb"-[0-9a-f]{4}-4000-8000-[0-9a-f]{12})"
            rb'|"seq":(?P<seq>\d+)'
            rb'|"(?P<stamp>\d{13})\.\d{5}\.'
            rb'|"' + re.escape(device.encode()) + rb"-(?P<number>\d{6})\""
            rb"|(?<![\w.])(?P<time>\d{12,13})(?![\w.])"
        )
        self.texts: list[Cut] = []
        # (client, clock) -> (parent, key): parents are ("root", name) or ("item", (client, clock))
        self.items: dict[tuple[int, int], tuple[Any, str | None]] = {}

    # --- primitives -----------------------------------------------------------------------------
    def uint(self) -> int:
        n = shift = 0
        while True:
            b = self.data[self.i]
            self.i += 1
            n |= (b & 0x7F) << shift
            if b < 0x80:
                return n
            shift += 7

    def sint(self) -> int:
        b = self.data[self.i]
        self.i += 1
        n, negative, shift = b & 0x3F, b & 0x40, 6
        while b & 0x80:
            b = self.data[self.i]
            self.i += 1
            n |= (b & 0x7F) << shift
            shift += 7
        return -n if negative else n

    def raw_string(self) -> tuple[int, str]:
        length = self.uint()
        start = self.i
        self.i += length
        return start, self.data[start : self.i].decode("utf-8")

    def hole(self, start: int, end: int, kind: int, value: int) -> None:
        self.parts.append(self.data[self.mark : start])
        self.holes.append((kind, value))
        self.mark = end

    def string(self) -> str:
        """A string; an id, a stamp or a receipt number in it becomes a hole."""
        start, text = self.raw_string()
        if _ID.fullmatch(tail := text.rpartition("/")[2]):  # an id, or an order's <part>/<id> key
            at = start + len(text.encode("utf-8")) - len(tail)
            self.hole(at, at + 8, _ID_TAG, 0)
        elif (stamp := _STAMP.match(text)) is not None:
            ms = int(stamp.group(1))
            if not self.lo <= ms < self.hi:
                raise RekeyError(f"stamp {text!r} is not on the template day")
            self.hole(start, start + 13, _STAMP_MS, ms)
        elif (number := self.number.fullmatch(text)) is not None:
            at = start + self.number_at
            self.hole(at, at + 6, _NUMBER, int(number.group(1)))
        return text

    # --- Any ------------------------------------------------------------------------------------
    def any(self, key: str | None, parent_key: str | None) -> None:
        start = self.i
        tag = self.data[self.i]
        self.i += 1
        value: float | None = None
        if tag in (127, 126, 121, 120):  # undefined, null, false, true
            return
        if tag == 125:
            value = self.sint()
        elif tag == 124:
            value = struct.unpack(">f", self.data[self.i : self.i + 4])[0]
            self.i += 4
        elif tag == 123:
            value = struct.unpack(">d", self.data[self.i : self.i + 8])[0]
            self.i += 8
        elif tag == 122:
            value = struct.unpack(">q", self.data[self.i : self.i + 8])[0]
            self.i += 8
        elif tag == 119:
            at = self.i
            text_start, text = self.raw_string()
            if text.startswith("{"):
                self.json_text(at, text_start, self.i)
            else:
                self.i = at
                self.string()
            return
        elif tag == 118:
            for _ in range(self.uint()):
                entry = self.string()
                self.any(entry, key)
            return
        elif tag == 117:
            for _ in range(self.uint()):
                self.any(key, parent_key)
            return
        elif tag == 116:
            self.i += self.uint()
            return
        else:
            raise RekeyError(f"unknown Any tag {tag} at byte {start}")
        if key == "seq" or parent_key == "receipts" or (key or "").startswith("receipts/"):
            # a receipt's seq, an order's receipts/<id> (or an older order's receipts map)
            if value != int(value):
                raise RekeyError(f"receipt sequence {value!r} is not whole")
            self.hole(start, self.i, _SEQ, int(value))
        elif self.lo <= value < self.hi:
            self.hole(start, self.i, _TIME, int(value))

    def json_text(self, at: int, start: int, end: int) -> None:
        """A record's JSON text (length at ``at``, bytes ``start:end``): one hole, cut inside."""
        parts: list[bytes] = []
        holes: list[tuple[int, int]] = []
        mark = start
        for found in self.in_text.finditer(self.data, start, end):
            kind = found.lastgroup
            if kind == "id":
                hole: tuple[int, int, int, int] = (
                    found.start("id"),
                    found.start("id") + 8,
                    _ID_TAG,
                    0,
                )
            elif kind == "seq":
                hole = (found.start("seq"), found.end("seq"), _SEQ_TEXT, int(found.group("seq")))
            elif kind == "stamp":
                ms = int(found.group("stamp"))
                if not self.lo <= ms < self.hi:
                    raise RekeyError(f"stamp {found.group(0)!r} is not on the template day")
                hole = (found.start("stamp"), found.end("stamp"), _TIME_TEXT, ms)
            elif kind == "number":
                number = found.group("number")
                hole = (found.start("number"), found.end("number"), _NUMBER, int(number))
            else:
                ms = int(found.group("time"))
                if not self.lo <= ms < self.hi:
                    continue
                hole = (found.start("time"), found.end("time"), _TIME_TEXT, ms)
            parts.append(self.data[mark : hole[0]])
            holes.append((hole[2], hole[3]))
            mark = hole[1]
        parts.append(self.data[mark:end])
        self.hole(at, end, _TEXT, len(self.texts))
        self.texts.append(Cut(parts, holes))

    # --- structs --------------------------------------------------------------------------------
    def walk(self) -> None:
        for _ in range(self.uint()):
            structs = self.uint()
            client = self.uint()
            clock = self.uint()
            for _ in range(structs):
                clock += self.struct(client, clock)
        # the delete set follows: ids of deleted ranges only, kept as they are

    def _parent_key(self, parent: Any) -> str | None:
        if parent[0] == "root":
            return None
        found = self.items.get(parent[1])
        return found[1] if found is not None else None

    def struct(self, client: int, clock: int) -> int:
        info = self.data[self.i]
        self.i += 1
        ref = info & 0x1F
        if ref in (0, 10):  # GC, Skip
            return self.uint()
        origin = (self.uint(), self.uint()) if info & 0x80 else None
        right = (self.uint(), self.uint()) if info & 0x40 else None
        key: str | None = None
        if not info & 0xC0:
            parent: Any = (
                ("root", self.raw_string()[1])
                if self.uint() == 1
                else ("item", (self.uint(), self.uint()))
            )
            if info & 0x20:
                key = self.string()
        else:
            neighbour = self.items.get(origin or right)  # type: ignore[arg-type]
            if neighbour is None:
                raise RekeyError(f"item {client}:{clock} has a neighbour outside the update")
            parent, key = neighbour
        parent_key = self._parent_key(parent)
        length = 1
        if ref == 1:  # deleted
            length = self.uint()
        elif ref == 2:  # JSON
            length = self.uint()
            for _ in range(length):
                self.raw_string()
        elif ref == 3:  # binary
            self.i += self.uint()
        elif ref == 4:  # string: its length counts UTF-16 units
            text = self.raw_string()[1]
            length = len(text.encode("utf-16-le")) // 2
        elif ref == 5:  # embed
            self.raw_string()
        elif ref == 6:  # format
            self.raw_string()
            self.raw_string()
        elif ref == 7:  # a shared type
            if self.uint() in (3, 5):  # XmlElement, XmlHook carry a name
                self.raw_string()
        elif ref == 8:  # Any values
            length = self.uint()
            for _ in range(length):
                self.any(key, parent_key)
        elif ref == 9:  # sub-document
            self.raw_string()
            self.any(None, None)
        else:
            raise RekeyError(f"unknown content {ref} at byte {self.i}")
        for n in range(length):
            self.items[(client, clock + n)] = (parent, key)
        return length


def verify_day(
    update: bytes, date: str, *, receipts: int, first_seq: int, device: str, cutoff_hour: int
) -> Ledger:
    """Read a rendered day back through the model: ``receipts`` receipts dated ``date``, numbered
    ``first_seq`` onwards in ``device``'s series, each order pointing at its receipt. Raises RekeyError."""
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    ledger = Ledger(doc, date)
    found = ledger.receipts()
    seqs = sorted(r.seq for r in found)
    expected = list(range(first_seq, first_seq + receipts))
    if seqs != expected:
        raise RekeyError(f"{ledger.name}: receipt sequences are not {first_seq}..{expected[-1:]}")
    for receipt in found:
        if receipt.number != f"{device}-{receipt.seq:06d}":
            raise RekeyError(f"{ledger.name}: receipt {receipt.id} is numbered {receipt.number}")
        if business_date(receipt.issued_at_ms, "UTC", cutoff_hour) != date:
            raise RekeyError(f"{ledger.name}: receipt {receipt.id} is dated {receipt.issued_at_ms}")
        if receipt.id not in ledger.order(receipt.order_id).receipt_ids:
            raise RekeyError(f"{ledger.name}: order {receipt.order_id} lost receipt {receipt.id}")
    return ledger
