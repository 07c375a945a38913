"""JSON values and JSON Schema from the same Python types, so the API's answers and its OpenAPI document
cannot drift apart: a route names the type it returns, ``to_json`` serialises it and ``Schemas`` describes it.

The model's dataclasses are used as they are. A few derived properties (an order's status, what is still due)
are part of what a register app needs, so ``EXTRAS`` adds them to both the value and its schema.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from meshpos.model import Order, OrderTotals, Shift, ShiftClose, StopEntry

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


def conforms(value: Any, kind: Any) -> bool:
    """Whether a decoded JSON value has the Python type a request field declares (bool is not an int)."""
    origin, args = get_origin(kind), get_args(kind)
    if kind is Any:
        return True
    if kind is None or kind is type(None):
        return value is None
    if origin in (Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if origin is Literal:
        return value in args
    if origin is list:
        return isinstance(value, list) and all(conforms(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(conforms(v, args[1]) for v in value.values())
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(kind, type):
        return isinstance(value, kind)
    raise TypeError(f"no JSON check for {kind!r}")


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
    return {int: "integer", str: "string", bool: "boolean", float: "number"}.get(kind, str(kind))


class Schemas:
    """Builds JSON Schema (2020-12, as OpenAPI 3.1 uses it); dataclasses become shared components."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, kind: Any) -> dict[str, Any]:
        origin, args = get_origin(kind), get_args(kind)
        simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
        if kind is Any:
            return {}
        if kind is None or kind is type(None):
            return {"type": "null"}
        if kind in simple:
            return {"type": simple[kind]}
        if origin in (Union, types.UnionType):
            return {"anyOf": [self.of(a) for a in args]}
        if origin is Literal:
            return {"enum": list(args)}
        if origin in (list, set, frozenset):
            return {"type": "array", "items": self.of(args[0])}
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
            return {"type": "object", "additionalProperties": self.of(args[1])}
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

    def field(self, name: str, kind: Any, description: str = "") -> dict[str, Any]:
        schema = self.of(kind)
        notes = [description] if description else []
        if name in MONEY and int in (kind, *get_args(kind)):  # int, or int | None
            if kind is int:
                schema["format"] = "int64"
            notes.append(MONEY_NOTE)
        if notes:
            schema["description"] = "; ".join(notes)
        return schema
