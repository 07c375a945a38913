"""The bearer token a schema fuzzer sends, unless the case it sends is meant to lack it."""

from __future__ import annotations

from typing import Any

from schemathesis.core.parameters import ParameterLocation


def auth_for(case: Any, auth: dict[str, str]) -> dict[str, str]:
    """``auth`` for ``case``, or nothing when schemathesis made the case's headers invalid (e.g. left
    out the Authorization the document requires): sending our token would undo the negation, and the
    check that invalid data is refused would then fail on a request that was in fact valid."""
    meta = getattr(case, "meta", None)
    header = meta.components.get(ParameterLocation.HEADER) if meta is not None else None
    if header is not None and header.mode.is_negative:
        return {}
    return auth
