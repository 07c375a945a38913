"""Just enough JSON Schema (the subset the OpenAPI generator emits) to check answers against the served
document: a test that reads an answer also proves the document describes it."""

from __future__ import annotations

import re
from typing import Any


def problems(
    value: Any, schema: dict[str, Any], doc: dict[str, Any], where: str = "$"
) -> list[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return problems(value, doc["components"]["schemas"][name], doc, where)
    if "anyOf" in schema:
        options = [problems(value, s, doc, where) for s in schema["anyOf"]]
        return [] if any(not p for p in options) else [f"{where}: matches no option: {options}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} not in {schema['enum']}"]
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    if kind is not None and not checks[kind](value):
        return [f"{where}: {value!r:.80} is not {kind}"]
    found: list[str] = []
    if kind == "object":
        props = schema.get("properties", {})
        found += [f"{where}: missing {k!r}" for k in schema.get("required", []) if k not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                found += problems(item, props[key], doc, f"{where}.{key}")
            elif extra is False:
                found.append(f"{where}: undocumented {key!r}")
            elif isinstance(extra, dict):
                found += problems(item, extra, doc, f"{where}.{key}")
    if kind == "array":
        prefix = schema.get("prefixItems")
        if prefix is not None:
            if len(value) != len(prefix):
                found.append(f"{where}: {len(value)} items, expected {len(prefix)}")
            for i, (item, sub) in enumerate(zip(value, prefix, strict=False)):
                found += problems(item, sub, doc, f"{where}[{i}]")
        elif "items" in schema:
            for i, item in enumerate(value):
                found += problems(item, schema["items"], doc, f"{where}[{i}]")
    return found


def operation(doc: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The documented path template and operation that a concrete request path hits."""
    for template, ops in doc["paths"].items():
        regex = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(regex, path.split("?")[0]) and method.lower() in ops:
            return template, ops[method.lower()]
    return None


def check_answer(doc: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    """A JSON answer must be documented for its operation and status, and match the schema."""
    found = operation(doc, method, path)
    if found is None:
        assert status in (404, 405), f"{method} {path} is not in the OpenAPI document"
        schema: dict[str, Any] = {"$ref": "#/components/schemas/ErrorBody"}
    else:
        template, op = found
        answer = op["responses"].get(str(status))
        assert answer is not None, f"{method} {template} answered {status}, not documented"
        if "$ref" in answer:
            answer = doc["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
        schema = answer["content"]["application/json"]["schema"]
    errors = problems(body, schema, doc)
    assert not errors, f"{method} {path} -> {status}: " + "; ".join(errors[:5])
