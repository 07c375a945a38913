"""Console database URLs: which file a ``sqlite:`` URL names, and a URL fit for messages and logs.

Its own module because both the port (``db``, which picks the adapter) and the adapters need it, and an
adapter importing the port that imports it back would be an import cycle.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from meshpos.errors import ConfigError


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def sqlite_path(url: str) -> Path:
    """``sqlite:///rel.db`` -> ``rel.db``, ``sqlite:////abs/x.db`` -> ``/abs/x.db``."""
    prefix = "sqlite:///"
    rest = url[len(prefix) :] if url.startswith(prefix) else ""
    if not rest or "?" in rest or "#" in rest or rest.endswith("/"):
        raise ConfigError(
            f"console database URL {redact(url)!r}: expected sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db (no host, query or fragment)"
        )
    return Path(rest)
