"""The checks of one node setting's value (meshpos.config's ``Config`` runs them at its build).

Split from meshpos/config.py (the twenty-third session, behaviour unchanged) so the dataclass and its
loading read in one sitting. A check raises :class:`InvalidSetting` naming the setting; ``load_config``
adds where the value came from (the file, variable or flag).
"""

from __future__ import annotations

import math

from meshpos.errors import ConfigError
from meshpos.model.roles import TOKEN_ROLES, is_node_id
from meshpos.sync import SyncConfig
from meshpos.urls import url_problem

CONSOLE_SCHEMES = ("ws", "wss")  # the relay speaks websockets only; TLS (wss) or a trusted LAN (ws)


class InvalidSetting(ConfigError):
    """One setting's value is wrong; ``load_config`` adds where that value came from."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


# the console signs again at least this often (its SyncConfig)
CONSOLE_RESIGN_S: float = SyncConfig().console_resign_s

#: the shortest console_fresh_s and upload_bound_s: 1.5 of the console's signing period, so a statement
#: signed just after the last one still counts as fresh on its way through the relay
MIN_BOUND_S = 1.5 * CONSOLE_RESIGN_S


#: the shortest bearer token a stock Yjs client may be given (``secrets.token_urlsafe(16)`` is 22)
MIN_TOKEN_CHARS = 16


def check_yjs_tokens(entries: tuple[str, ...]) -> None:
    names: set[str] = set()
    tokens: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        name, _, rest = entry.partition(":")
        role, _, token = rest.partition(":")
        # named by its position and name, never its token (a bare token has no name)
        shown = f"{number} ({name})" if rest and is_node_id(name) else str(number)
        if not is_node_id(name) or role not in TOKEN_ROLES:
            raise InvalidSetting(
                "yjs_tokens",
                f"yjs_tokens entry {shown}: write <name>:<role>:<token>, the name 1-32 letters, "
                f"digits, '-' or '_', the role one of {', '.join(TOKEN_ROLES)}",
            )
        if len(token) < MIN_TOKEN_CHARS or not token.isprintable() or set(token) & {" ", ","}:
            raise InvalidSetting(
                "yjs_tokens",
                f"yjs_tokens entry {shown}: the token must be at least {MIN_TOKEN_CHARS} visible "
                "characters without spaces or commas (make one with: python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(24))')",
            )
        if name in names or token in tokens:
            raise InvalidSetting(
                "yjs_tokens", f"yjs_tokens entry {shown}: its name or token is given twice"
            )
        names.add(name)
        tokens.add(token)


def whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def console_url_problem(url: str) -> str | None:
    """Why ``url`` is no console address a relay can dial, or None."""
    problem = url_problem(url, CONSOLE_SCHEMES)
    if problem is not None and problem.startswith("must start"):
        return f"{problem} (the console is reached over websockets)"
    return problem


def seconds_between(name: str, value: object, low: float, high: float, why: str = "") -> None:
    """Refuse a duration setting that is not a number of seconds in [low, high] (nan and inf too)."""
    seconds = math.nan if isinstance(value, bool) or not isinstance(value, int | float) else value
    if not low <= seconds <= high:  # also refuses nan
        because = f" ({why})" if why else ""
        raise InvalidSetting(
            name, f"{name} {value!r}: must be between {low:g} and {high:g} s{because}"
        )
