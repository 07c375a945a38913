"""What the two schema fuzzers share: the operations of the document they fuzz, and the bearer token
they send unless the case they send is meant to lack it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from schemathesis import APIOperation
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Err, Result


def operations_of(
    results: Iterable[Result[APIOperation[Any, Any, Any, Any], InvalidSchema]],
) -> list[APIOperation[Any, Any, Any, Any]]:
    """Every operation of ``schema.get_all_operations()``; the first that did not load raises its
    own error (which names the route), so a broken document fails the fuzzer by name."""
    loaded: list[APIOperation[Any, Any, Any, Any]] = []
    for result in results:
        if isinstance(result, Err):
            raise result.err()
        loaded.append(result.ok())
    return loaded


def auth_for(case: Any, auth: dict[str, str]) -> dict[str, str]:
    """``auth`` for ``case``, or nothing when schemathesis made the case's headers invalid (e.g. left
    out the Authorization the document requires): sending our token would undo the negation, and the
    check that invalid data is refused would then fail on a request that was in fact valid."""
    meta = getattr(case, "meta", None)
    header = meta.components.get(ParameterLocation.HEADER) if meta is not None else None
    if header is not None and header.mode.is_negative:
        return {}
    return auth
