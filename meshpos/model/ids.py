"""The ids the model gives new records (orders, lines, payments, receipts, shifts, tickets...).

A record id is written many times over: as its key, and inside other records (a receipt names its order,
its lines and its payments; every order, payment and receipt names its shift). A sale carried 13 of them,
a quarter of its bytes as uuids, and each sale's updates go to every other device, so an id's length is
paid per receipt per device (issue 18, docs/benchmarks.md "sale bytes").

An id is :data:`RECORD_ID_CHARS` characters: a lowercase letter, then lowercase letters and digits,
about 92 random bits from the OS's source (a uuid4 has 122). Ids must be unique across a venue's whole
life (the console keys its rows by venue and id): at a hundred million records the chance that two
ever meet is about 1e-12. Lowercase letters and digits only: safe in a URL, a file name, a command
line argument (no leading ``-``), a case-insensitive search, and never read as a number. Older ids are
uuids, and every reader takes any text up to ``MAX_ID_CHARS``.

**Changed** (issue 18, cpu): each character is one random byte through a translation table, the bytes
that would bias it dropped, instead of one ``divmod`` of a 96-bit integer per character: the same
form, every id equally likely, 6 Python calls instead of 57 (``new_record_id``).
"""

from __future__ import annotations

import os

RECORD_ID_CHARS = 18
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_CHARS = "0123456789" + _LETTERS


def _table(alphabet: str) -> tuple[bytes, bytes]:
    """A ``bytes.translate`` table taking a random byte to a character of ``alphabet`` (byte ``b`` to
    ``alphabet[b % len]``), and the bytes to delete first: those past the last whole multiple of the
    alphabet's length, which would make its first characters likelier (a modulo's bias)."""
    whole = 256 - 256 % len(alphabet)
    return (
        bytes(alphabet.encode("ascii")[b % len(alphabet)] if b < whole else 0 for b in range(256)),
        bytes(range(whole, 256)),
    )


_TO_LETTER, _NOT_LETTER = _table(_LETTERS)  # 234 of 256 byte values kept (9 per letter)
_TO_CHAR, _NOT_CHAR = _table(_CHARS)  # 252 kept (7 per letter or digit)
_LETTER_BYTES = 3  # the first letter: all three bytes dropped once in ~1,600 ids (drawn again)
_DRAWN = _LETTER_BYTES + 24  # fewer than 17 of the 24 kept: once in ~5e8 ids (drawn again)


def new_record_id() -> str:
    """A fresh record id (see the module's doc): a letter, then ``RECORD_ID_CHARS - 1`` letters or
    digits, each uniform and independent (26 x 36**17 ids, ~92.6 bits), from the OS's random bytes:
    one byte a character, at C speed (``bytes.translate``), a byte that would bias its character
    dropped (rejection sampling). A sale makes five ids: the divisions were 5 % of its Python calls."""
    while True:
        drawn = os.urandom(_DRAWN)
        first = drawn[:_LETTER_BYTES].translate(_TO_LETTER, _NOT_LETTER)
        rest = drawn[_LETTER_BYTES:].translate(_TO_CHAR, _NOT_CHAR)
        if first and len(rest) >= RECORD_ID_CHARS - 1:
            return (first[:1] + rest[: RECORD_ID_CHARS - 1]).decode("ascii")
