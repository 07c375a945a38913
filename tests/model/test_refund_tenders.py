"""The refund rule's cases (meshpos/model/refund_tenders.py); the page and API show it in
tests/web/test_register_refund_tenders_browser.py and tests/web/test_api.py."""

from __future__ import annotations

import pytest

from meshpos.errors import OverRefund, RecordUnusable
from meshpos.model.refund_tenders import Tender, refund_method

CARD_THEN_CASH = (Tender("card", 500, 0), Tender("cash", 1200, 0))


def test_by_default_the_first_tender_paid_that_can_take_it_whole() -> None:
    assert refund_method(CARD_THEN_CASH, 450, None, "R1-000001") == "card"
    assert refund_method(CARD_THEN_CASH, 900, None, "R1-000001") == "cash"  # the card has 500
    cash_then_card = tuple(reversed(CARD_THEN_CASH))
    assert refund_method(cash_then_card, 450, None, "R1-000001") == "cash"


def test_when_no_tender_can_take_it_whole_the_card_does_never_the_drawer() -> None:
    assert refund_method(CARD_THEN_CASH, 1300, None, "R1-000001") == "card"
    spent = (Tender("card", 500, 0), Tender("cash", 1200, 800))  # 400 cash left
    assert refund_method(spent, 450, None, "R1-000001") == "card"


def test_cash_out_is_never_more_than_cash_in() -> None:
    assert refund_method(CARD_THEN_CASH, 1200, "cash", "R1-000001") == "cash"
    with pytest.raises(OverRefund, match="cannot give back 1201 in cash on receipt R1-000001"):
        refund_method(CARD_THEN_CASH, 1201, "cash", "R1-000001")
    with pytest.raises(OverRefund, match="it took 0 in cash"):
        refund_method((Tender("card", 500, 0),), 100, "cash", "R1-000002")
    cash_only = (Tender("cash", 700, 600),)
    assert refund_method(cash_only, 100, None, "R1-000003") == "cash"
    with pytest.raises(OverRefund, match="at most 100 can leave the drawer"):
        refund_method(cash_only, 101, None, "R1-000003")


def test_a_chosen_non_cash_tender_is_taken_and_unknown_payments_need_one() -> None:
    assert refund_method(CARD_THEN_CASH, 5000, "card", "R1-000001") == "card"
    assert refund_method((), 100, "other", "R1-000004") == "other"
    for chosen in (None, "cash"):
        with pytest.raises(RecordUnusable, match="refund it by card or other"):
            refund_method((), 100, chosen, "R1-000004")
