"""A record id's characters come one random byte each through a table, the bytes that would bias a
character dropped (issue 18, cpu: ``ids.new_record_id``): every id of the same form stays equally
likely, and an unlucky draw is drawn again, never cut short."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest

from meshpos.model.ids import RECORD_ID_CHARS, new_record_id

CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"


def feed(monkeypatch: pytest.MonkeyPatch, draws: Iterator[bytes]) -> list[int]:
    """``os.urandom`` as the ids module calls it, answering with ``draws``; the sizes asked."""
    asked: list[int] = []

    def urandom(size: int) -> bytes:
        asked.append(size)
        drawn = next(draws)
        assert len(drawn) == size
        return drawn

    monkeypatch.setattr("meshpos.model.ids.os.urandom", urandom)
    return asked


def test_each_character_is_one_byte_and_biasing_bytes_are_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the letter: 234..255 would make a..v likelier (256 = 9 * 26 + 22): skipped; 27 -> "b"
    letter = bytes([250, 234, 27])
    # the rest: 252..255 would make 0..3 likelier (256 = 7 * 36 + 4): skipped
    rest = bytes([0, 255, 35, 36, 252, 71, 251, 253, 254, 10] + [1] * 14)
    feed(monkeypatch, iter([letter + rest]))
    made = new_record_id()
    assert made == "b" + "0z0zz" + "a" + "1" * 11
    assert len(made) == RECORD_ID_CHARS


def test_a_draw_with_too_few_usable_bytes_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    good = bytes([1, 2, 3]) + bytes(range(40, 64))
    few = bytes([1, 2, 3]) + b"\xfe" * 8 + bytes(16)  # 16 usable: one short
    asked = feed(monkeypatch, iter([b"\xff" * 27, few, good]))
    assert new_record_id() == "b" + CHARS[4:21]
    assert len(asked) == 3


def test_every_character_is_equally_likely_in_every_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts per place over 36,000 ids from a seeded source: a chi-square far below what a bias of
    the modulo's size (4 of 256 bytes) gives; deterministic, so it never fails by chance."""
    source = random.Random(18)
    monkeypatch.setattr("meshpos.model.ids.os.urandom", source.randbytes)
    made = [new_record_id() for _ in range(36_000)]
    for place in range(RECORD_ID_CHARS):
        alphabet = CHARS[10:] if place == 0 else CHARS
        counts = Counter(i[place] for i in made)
        assert set(counts) == set(alphabet)
        expected = len(made) / len(alphabet)
        chi2 = sum((counts[c] - expected) ** 2 / expected for c in alphabet)
        assert chi2 < 2.5 * len(alphabet), (place, chi2)  # (a 4-of-256 bias: ~10x the alphabet)
