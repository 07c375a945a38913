"""Text cells of the console's CSV files (reports, the menu export) that a spreadsheet shows as text.

A cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run by a spreadsheet as a
formula, so a product or cashier named ``=HYPERLINK("http://...","Espresso")`` (anyone with the catalog's
write access, or a malicious enrolled device's corrupt record, can name one) would act in the manager's
sheet. Such a cell is written with a leading ``'``, the spreadsheets' own "this is text" mark. The menu's
import reads its export back, so the mark must come off again, and only where the export put it: a text
whose ``'`` marks are followed by a formula character gets one ``'`` more on the way out and loses
exactly one on the way in (``'=x`` <-> ``''=x``); any other text, ``'Twas`` among them, is left alone.
"""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"


def _marked(text: str) -> bool:
    return text.lstrip(TEXT_MARK).startswith(FORMULA_START)


def text_cell(text: str) -> str:
    """``text`` as a cell a spreadsheet shows as text (the inverse of :func:`read_text_cell`)."""
    return TEXT_MARK + text if _marked(text) else text


def read_text_cell(cell: str) -> str:
    """The text a cell written by :func:`text_cell` holds."""
    return cell[1:] if cell.startswith(TEXT_MARK) and _marked(cell) else cell
