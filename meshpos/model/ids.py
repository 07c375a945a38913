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
"""

from __future__ import annotations

import os

RECORD_ID_CHARS = 18
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_CHARS = "0123456789" + _LETTERS
_RANDOM_BYTES = 12  # 96 bits: more than the id's letters and digits can hold, so none is wasted


def new_record_id() -> str:
    """A fresh record id (see the module's doc)."""
    n = int.from_bytes(os.urandom(_RANDOM_BYTES), "big")
    n, first = divmod(n, len(_LETTERS))
    out = [_LETTERS[first]]
    for _ in range(RECORD_ID_CHARS - 1):
        n, digit = divmod(n, len(_CHARS))
        out.append(_CHARS[digit])
    return "".join(out)
