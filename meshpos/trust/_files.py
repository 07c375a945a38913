"""Small file helpers: atomic writes (a crash leaves the old file or the new one) and private modes for keys."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from meshpos.errors import TrustError

PRIVATE = 0o600
PUBLIC = 0o644


def write_file(path: Path, data: str, mode: int = PUBLIC, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` through a temp file and rename; ``exclusive`` refuses an existing file.

    The temp file is created with ``mode`` already set, so a private key is never readable by others, not
    even for a moment.
    """
    if exclusive and path.exists():
        raise TrustError(f"{path}: already exists; refusing to overwrite it")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits away; never adds any
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)  # fails if ``path`` appeared meanwhile: no silent overwrite
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def new_token(nbytes: int = 24) -> str:
    """A secret for a person to paste: hex, so it never starts with "-", which a command line reads as an
    option (``--token -Xy...`` failed one run in 64 with the URL-safe alphabet)."""
    return secrets.token_hex(nbytes)


# a stored token's length bounds: long enough to be a secret, short enough for one header line
TOKEN_CHARS = (16, 256)


def stored_token(path: Path) -> str:
    """The token kept in ``path`` (a node's API token, the console's admin token), made the first time,
    readable by its owner only.

    Only an absent file is replaced by a new token. A present file that holds no usable token (empty,
    a directory, not text, spaces or control characters, too short or too long) is refused with the
    reason, never silently replaced: we write tokens atomically, so such a file is damage or a hand
    edit, and a node serving a token nobody has would be one nobody can use. The token itself is never
    echoed in the error.
    """
    try:
        return read_token(path)
    except FileNotFoundError:
        return _new_stored_token(path)


def read_token(path: Path) -> str:
    """The token in ``path`` as :func:`stored_token` accepts it, or TrustError saying what is wrong with
    the file; FileNotFoundError if there is none (the caller says what that means)."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise TrustError(f"{path}: is a directory, not a token file") from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise TrustError(f"{path}: cannot read the token: {exc.strerror}") from None
    problem = _token_problem(raw)
    if problem is not None:
        raise TrustError(
            f"{path}: not a usable token ({problem}); it must be one line of {TOKEN_CHARS[0]} to "
            f"{TOKEN_CHARS[1]} visible ASCII characters — delete the file to have a new one made"
        )
    return raw.decode("ascii").strip()


def _token_problem(raw: bytes) -> str | None:
    token = raw.strip()
    if not token:
        return "the file is empty"
    for i, byte in enumerate(token):
        if not 0x21 <= byte <= 0x7E:
            return f"byte 0x{byte:02x} at position {i} is not a visible ASCII character"
    if not TOKEN_CHARS[0] <= len(token) <= TOKEN_CHARS[1]:
        return f"it is {len(token)} characters long"
    return None


def _new_stored_token(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    token = new_token()
    try:
        write_file(path, token + "\n", PRIVATE, exclusive=True)
    except (TrustError, FileExistsError):
        return stored_token(path)  # another process made it first: theirs counts
    return token


def read_file(path: Path, what: str, hint: str = "") -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrustError(f"{path}: {what} not found{hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrustError(f"{path}: cannot read {what}: {exc}") from None


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (two ``pair`` commands must not issue one device id twice)."""
    fd = os.open(directory / ".lock", os.O_WRONLY | os.O_CREAT, PRIVATE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_folder(directory: Path) -> None:
    """Refuse, naming the path and why, a ``directory`` that cannot be made or written (a file on the way,
    a folder this user cannot write), without writing anything."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise TrustError(
            f"{directory}: {existing} is a file, not a directory: nothing can be saved there; give "
            "--dir a directory, or a path to make one"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TrustError(f"{directory}: {existing} is not writable by this user")
