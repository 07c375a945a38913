"""Venue tokens: the console stores only their SHA-256, never the token itself.

A token is 256 random bits, so a plain SHA-256 is enough (nothing to brute-force, unlike a PIN) and a
stolen database does not let anyone upload as a venue. Lookup goes by the hash, so timing depends on
the hash and never on how many leading characters of a guess were right.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from meshpos.errors import ConfigError

_HASH = re.compile(r"^[0-9a-f]{64}$")
_VENUE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_TOKEN_LENGTH = 32


def new_venue_token() -> str:
    """A fresh token to show the operator once; store only ``hash_token`` of it."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"a venue token must be a string of at least {MIN_TOKEN_LENGTH} characters "
            "(use new_venue_token())"
        )
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(stored: str, computed: str) -> bool:
    return hmac.compare_digest(stored.encode(), computed.encode())


def check_token_hash(token_hash: str) -> str:
    """Refuse anything but a hash, so a plaintext token is never stored by mistake."""
    if not isinstance(token_hash, str) or not _HASH.match(token_hash):
        raise ConfigError("token_hash must be hash_token(token): 64 lowercase hex digits")
    return token_hash


def check_venue_id(venue_id: str) -> str:
    if not isinstance(venue_id, str) or not _VENUE_ID.match(venue_id):
        raise ConfigError(
            f"venue id {venue_id!r} must be 1-64 characters of letters, digits, '.', '_' or '-'"
        )
    return venue_id
