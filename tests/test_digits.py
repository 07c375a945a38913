"""Every reader of a number takes ASCII digits only (meshpos/digits.py).

``str.isdigit`` takes ``"²"`` and ``"٣"``: a reader that asked it let ``int``'s ValueError out where its
own clear error was due (a peer's stamp, a signed attestation's client id), or read another script's
digits as a number nobody wrote. Each case below raised ValueError, or was taken, before 5761f4c+1.
"""

from __future__ import annotations

import json

import pytest

from meshpos.digits import ascii_digits
from meshpos.errors import CorruptRecord
from meshpos.model.clock import Stamp
from meshpos.model.numbering import looks_numbered
from meshpos.sync._held_signed import HeldSignatureRefused, decode_word

OTHER_DIGITS = [
    "²",
    "¹²",
    "٣",
    "၅",
    "߁",
    "１２",
]  # superscript, Arabic-Indic, Myanmar, NKo, full-width


@pytest.mark.parametrize("text", [*OTHER_DIGITS, "", "1 ", "-1", "+1", "1_0", "1.0"])
def test_only_ascii_digits_are_a_number(text: str) -> None:
    assert not ascii_digits(text)


def test_ascii_digits_are_a_number() -> None:
    assert ascii_digits("0")
    assert ascii_digits("0123456789")


@pytest.mark.parametrize("digit", OTHER_DIGITS)
def test_a_stamp_of_other_digits_is_a_corrupt_record(digit: str) -> None:
    with pytest.raises(CorruptRecord, match="is not a clock stamp"):
        Stamp.decode(f"{digit}.0.K9")
    with pytest.raises(CorruptRecord, match="is not a clock stamp"):
        Stamp.decode(f"1.{digit}.K9")


@pytest.mark.parametrize("digit", OTHER_DIGITS)
def test_a_receipt_number_of_other_digits_is_no_receipt_number(digit: str) -> None:
    assert looks_numbered("R1-000001")
    assert not looks_numbered(f"R1-00000{digit}")


@pytest.mark.parametrize("digit", OTHER_DIGITS)
def test_a_signed_attestation_naming_a_client_of_other_digits_is_refused(digit: str) -> None:
    """A device's signed word is read once its signature holds: an enrolled device signing one
    with ``"²"`` as a client id raised ValueError in its peers' sessions."""
    body = json.dumps({"held": {"ledger/2026-12-07": {digit: 3}}, "node": "R1", "venue": "v1"})
    with pytest.raises(HeldSignatureRefused, match="client id"):
        decode_word(body)
