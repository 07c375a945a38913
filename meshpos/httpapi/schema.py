"""JSON values and JSON Schema from the same Python types, so the API's answers and its OpenAPI document
cannot drift apart: a route names the type it returns, ``to_json`` serialises it and ``Schemas`` describes it.

The model's dataclasses are used as they are. A few derived properties (an order's status, what is still due)
are part of what a register app needs, so ``EXTRAS`` adds them to both the value and its schema.
"""

from __future__ import annotations

import dataclasses
import re
import types
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from meshpos.model import Order, OrderTotals, Shift, ShiftClose, StopEntry
from meshpos.model.limits import MAX_ID_CHARS, MAX_NOTE_CHARS, text_problem

# property name -> type, serialised and described besides the dataclass fields
EXTRAS: dict[type, dict[str, Any]] = {
    Order: {"status": Literal["open", "paid", "void"]},
    OrderTotals: {"due": int},
    Shift: {"is_open": bool},
    ShiftClose: {"difference": int},
    StopEntry: {"at_ms": int},
}

# integer fields that hold money; the document says so on each of them
MONEY = frozenset(
    {
        "price",
        "price_delta",
        "unit_price",
        "amount",
        "tip",
        "tips",
        "tendered",
        "change",
        "subtotal",
        "discount",
        "tax",
        "total",
        "paid",
        "due",
        "gross",
        "opening_cash",
        "counted_cash",
        "expected_cash",
        "difference",
    }
)
MONEY_NOTE = "money: an integer number of minor units (cents), never a decimal"


def to_json(value: Any) -> Any:
    """A JSON-ready copy: dataclasses (with their EXTRAS) become objects, tuples and sets lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in EXTRAS.get(type(value), {}):
            out[name] = to_json(getattr(value, name))
        return out
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(to_json(v) for v in value)
    return value


@dataclass(frozen=True, slots=True)
class Bounds:
    """A request field's bounds, applied to every integer and every string in its type (a list's items, an
    object's keys and values): checked by :func:`accept` and published by :meth:`Schemas.field`."""

    minimum: int | None = None
    maximum: int | None = None
    max_chars: int | None = None
    pattern: str | None = None  # for text: a regular expression (with ^ and $) it must match


NO_BOUNDS = Bounds()
# no control characters (what limits.text_problem refuses), as an ECMA-262 and Python regular expression
NO_CONTROL = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"


class Refused(ValueError):
    """Why a request value does not fit its declared type and bounds (the caller names the field)."""


def accept(value: Any, kind: Any, bounds: Bounds = NO_BOUNDS) -> Any:
    """``value`` as the declared type, or :class:`Refused`. The JSON Schema rule, followed on both sides of
    the document: a number with a zero fraction (``2.0``) *is* an integer, and comes back as ``2``; a bool is
    not an integer; text must pass :func:`meshpos.model.limits.text_problem`; integers must lie within the
    bounds (refused here, before anything reaches the model or pycrdt)."""
    origin, args = get_origin(kind), get_args(kind)
    if kind is Any:
        return value
    if kind is None or kind is type(None):
        if value is None:
            return None
        raise Refused(f"must be null, got {_shown(value)}")
    if origin in (Union, types.UnionType):
        fitting = [a for a in args if _shape(value, a)]
        if not fitting:
            raise Refused(f"must be {with_article(type_name(kind))}, got {_shown(value)}")
        return accept(value, fitting[0], bounds)
    if not _shape(value, kind):
        raise Refused(f"must be {with_article(type_name(kind))}, got {_shown(value)}")
    if origin is Literal or kind is bool:
        return value
    if origin is list:
        return [_item(f"[{i}]", v, args[0], bounds) for i, v in enumerate(value)]
    if origin is dict:
        out = {}
        for key, item in value.items():
            problem = text_problem(key, bounds.max_chars or MAX_ID_CHARS)
            if problem is not None:
                raise Refused(f"has a key {_shown(key)} that {problem}")
            out[key] = _item(f"[{key!r}]", item, args[1], bounds)
        return out
    if kind is int:
        number = int(value)
        low, high = bounds.minimum, bounds.maximum
        if low is not None and number < low:
            raise Refused(f"must be at least {low}, got {_shown(value)}")
        if high is not None and number > high:
            raise Refused(f"must be at most {high}, got {_shown(value)}")
        return number
    if kind is str:
        problem = text_problem(value, bounds.max_chars or MAX_NOTE_CHARS)
        if problem is not None:
            raise Refused(problem)
        if bounds.pattern is not None and re.search(bounds.pattern, value) is None:
            raise Refused(f"must match {bounds.pattern}, got {_shown(value)}")
        return value
    raise TypeError(f"no JSON check for {kind!r}")


def _item(where: str, value: Any, kind: Any, bounds: Bounds) -> Any:
    try:
        return accept(value, kind, bounds)
    except Refused as exc:
        raise Refused(f"{where} {exc}") from None


def _shape(value: Any, kind: Any) -> bool:
    """Whether ``value`` has the JSON type of ``kind`` (bounds aside)."""
    origin = get_origin(kind)
    if kind is Any:
        return True
    if kind is None or kind is type(None):
        return value is None
    if origin in (Union, types.UnionType):
        return any(_shape(value, a) for a in get_args(kind))
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in get_args(kind))
    if origin is list:
        return isinstance(value, list)
    if origin is dict:
        return isinstance(value, dict)
    if kind is int:
        if isinstance(value, float):
            return value.is_integer()  # inf and nan are not
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(kind, type):
        return isinstance(value, kind)
    raise TypeError(f"no JSON check for {kind!r}")


def _shown(value: Any) -> str:
    """A refused value in a message: short (a body may hold 256 KiB of it) and plain ASCII."""
    text = ascii(value)
    return text if len(text) <= 60 else text[:57] + "..."


def with_article(name: str) -> str:
    if name.startswith(("one of", "list", "object")):
        return name
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def type_name(kind: Any) -> str:
    """How an error message names a type: 'integer', 'list of string', 'one of cash, card'."""
    origin, args = get_origin(kind), get_args(kind)
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin is list:
        return f"list of {type_name(args[0])}"
    if origin is dict:
        return f"object of {type_name(args[1])}"
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    names = {int: "integer", str: "string", bool: "boolean", float: "number", type(None): "null"}
    return names.get(kind, str(kind))


class Schemas:
    """Builds JSON Schema (2020-12, as OpenAPI 3.1 uses it); dataclasses become shared components."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, kind: Any, bounds: Bounds | None = None) -> dict[str, Any]:
        """The schema of ``kind``; ``bounds`` (a request field's) go on each integer and string in it."""
        origin, args = get_origin(kind), get_args(kind)
        simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
        if kind is Any:
            return {}
        if kind is None or kind is type(None):
            return {"type": "null"}
        if kind in simple:
            return {"type": simple[kind], **_limits(kind, bounds)}
        if origin in (Union, types.UnionType):
            return {"anyOf": [self.of(a, bounds) for a in args]}
        if origin is Literal:
            return {"enum": list(args)}
        if origin in (list, set, frozenset):
            return {"type": "array", "items": self.of(args[0], bounds)}
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.of(args[0])}
            items = [self.of(a) for a in args]
            return {
                "type": "array",
                "prefixItems": items,
                "minItems": len(items),
                "maxItems": len(items),
            }
        if origin is dict:
            schema = {"type": "object", "additionalProperties": self.of(args[1], bounds)}
            if bounds is not None:
                keys = Bounds(max_chars=bounds.max_chars or MAX_ID_CHARS)
                schema["propertyNames"] = _limits(str, keys)
            return schema
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            return self._component(kind)
        raise TypeError(f"no JSON schema for {kind!r}")

    def _component(self, cls: type) -> dict[str, Any]:
        ref = {"$ref": f"#/components/schemas/{cls.__name__}"}
        if cls.__name__ in self.components:
            return ref
        self.components[cls.__name__] = {}  # placeholder: a recursive type refers to itself
        hints = get_type_hints(cls)
        props = {f.name: self.field(f.name, hints[f.name]) for f in dataclasses.fields(cls)}
        props |= {name: self.field(name, kind) for name, kind in EXTRAS.get(cls, {}).items()}
        schema: dict[str, Any] = {
            "type": "object",
            "properties": props,
            "required": list(props),
            "additionalProperties": False,
        }
        doc = (cls.__doc__ or "").strip()
        if doc and not doc.startswith(
            f"{cls.__name__}("
        ):  # not the dataclass's generated signature
            schema["description"] = doc.split("\n\n")[0]
        self.components[cls.__name__] = schema
        return ref

    def field(
        self, name: str, kind: Any, description: str = "", bounds: Bounds | None = None
    ) -> dict[str, Any]:
        schema = self.of(kind, bounds)
        notes = [description] if description else []
        if name in MONEY and int in (kind, *get_args(kind)):  # int, or int | None
            if kind is int:
                schema["format"] = "int64"
            notes.append(MONEY_NOTE)
        if notes:
            schema["description"] = "; ".join(notes)
        return schema


def _limits(kind: Any, bounds: Bounds | None) -> dict[str, Any]:
    """What :func:`accept` enforces on a request's integer or string, as JSON Schema keywords."""
    if bounds is None:
        return {}
    if kind is int:
        limits = {"minimum": bounds.minimum, "maximum": bounds.maximum}
        return {k: v for k, v in limits.items() if v is not None}
    if kind is str:
        return {
            "maxLength": bounds.max_chars or MAX_NOTE_CHARS,
            "pattern": bounds.pattern or NO_CONTROL,
        }
    return {}
