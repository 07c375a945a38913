"""Whether a text is a number written in ASCII digits: one definition for every reader of one.

``str.isdigit`` also takes superscripts (``²``) and other scripts' digits (``٣``, ``၅``). ``int`` then
raises ValueError on the first, where a clear error naming the field was due (a stamp ``¹.0.K9`` in a
kitchen device's stop-list entry stopped a register selling the item and its stop list answered 500),
and reads the second as a number nobody wrote (``٢٥٠`` as 250). Records, peers' messages, headers, data
files and flags write their numbers in ASCII digits, so only those are numbers here.
"""

from __future__ import annotations


def ascii_digits(text: str) -> bool:
    """``text`` is one or more of ``0123456789`` and nothing else."""
    return text.isascii() and text.isdigit()
