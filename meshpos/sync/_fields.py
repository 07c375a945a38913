"""Strict checks of one JSON body's fields, shared by the hello's and the heartbeat's decoders.

docs/architecture.md (Wire). A body is one JSON object: no duplicate keys, no NaN or Infinity, only
the fields named; each field is checked against its type and bound. Every failure raises
:class:`~meshpos.errors.RemoteProtocolError` naming the body and the field, never anything else.
Kept apart from ``_bodies`` (which fields each message has, both ways) so each reads in one sitting.
"""

from __future__ import annotations

import json
import re
from typing import Any

from meshpos.errors import RemoteProtocolError
from meshpos.lib0 import MAX_VAR_UINT
from meshpos.model.limits import MAX_NOTE_CHARS, text_problem
from meshpos.model.roles import ROLES

#: a node id, in a body or as a key of one (the hello's, the heartbeat's and its summaries')
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def signed_json(body: str) -> Any:
    """A signed word's body read as JSON (a tick, an attestation, a gone notice, a said part, a stall
    word), or None when it is not JSON, which its decoder refuses by name.

    **Changed** (outside, attacker, the twenty-third session): JSON nested deeper than Python's
    recursion limit raises RecursionError, not ValueError, and the decoders caught only ValueError:
    an enrolled device signing its own word nested 3,000 deep (7 kB, a valid signature) made
    ``Synchronizer.receive_data`` raise, and the link ended with no reason said to either side
    (``tests/outside/test_deep_signed_word.py``). One reading for all of them now."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)  # at C speed; a duplicate key makes it shorter (every heartbeat's objects)
    if len(out) == len(pairs):
        return out
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen.add(key)
    raise AssertionError("unreachable")  # pragma: no cover


def _load_object(
    body: bytes, what: str, fields: set[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    try:
        obj = json.loads(
            body.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=reject_constant
        )
    except UnicodeDecodeError:
        raise RemoteProtocolError(f"{what}: not valid UTF-8") from None
    except (ValueError, RecursionError) as exc:
        raise RemoteProtocolError(f"{what}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise RemoteProtocolError(f"{what}: expected a JSON object, got {type(obj).__name__}")
    missing = sorted(fields - obj.keys())
    if missing:
        raise RemoteProtocolError(f"{what}: missing field {missing[0]!r}")
    unknown = sorted(obj.keys() - fields - optional)
    if unknown:
        raise RemoteProtocolError(f"{what}: unknown field {unknown[0]!r}")
    return obj


def _int(obj: dict[str, Any], key: str, what: str, low: int = 0, high: int = MAX_VAR_UINT) -> int:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RemoteProtocolError(f"{what}: field {key!r} must be an integer in [{low}, {high}]")
    return value


def _bool(obj: dict[str, Any], key: str, what: str) -> bool:
    value = obj[key]
    if not isinstance(value, bool):
        raise RemoteProtocolError(f"{what}: field {key!r} must be true or false")
    return value


def _str(obj: dict[str, Any], key: str, what: str, pattern: re.Pattern[str]) -> str:
    value = obj[key]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise RemoteProtocolError(f"{what}: field {key!r} is not a valid value: {value!r:.80}")
    return value


def _role(obj: dict[str, Any], what: str) -> str:
    value = obj["role"]
    if value not in ROLES:
        raise RemoteProtocolError(f"{what}: field 'role' must be one of {', '.join(ROLES)}")
    assert isinstance(value, str)
    return value


def _text(obj: dict[str, Any], key: str, what: str) -> str:
    """A sentence for people (a problem, a reason): plain text of at most MAX_NOTE_CHARS."""
    value = obj[key]
    problem = text_problem(value, MAX_NOTE_CHARS)
    if problem is not None:
        raise RemoteProtocolError(f"{what}: field {key!r} {problem}")
    assert isinstance(value, str)
    return value
