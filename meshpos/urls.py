"""Why an address a person gave (node.toml, a flag, a data dir's ``api.url``) is no URL a meshpos command
can dial, in words; defined once for every reader of such an address.

``urllib.parse.urlsplit`` raises ValueError for a bracket left open (``ws://[::1``) and reads the port only
when asked, so an address that passed a scheme check still ended in ``unexpected error: ValueError`` at
the dial (``ws://127.0.0.1:99999``, ``http://127.0.0.1:abc``). Asking here first makes each of them one
line naming the flag or file, before anything is written or sent.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence


def url_problem(url: str, schemes: Sequence[str]) -> str | None:
    """Why ``url`` is not a ``scheme://host[:port]`` address with one of ``schemes``, or None."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in schemes:
        return "must start with " + " or ".join(f"{scheme}://" for scheme in schemes)
    if not parts.hostname:
        return "has no host"
    return None
