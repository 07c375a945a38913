"""The comparison behind lost / duplicated / diverged, on hand-made holdings (no processes)."""

from __future__ import annotations

import argparse

import pytest

from meshpos.chaos import add_chaos_arguments, run_chaos
from meshpos.chaos.netbed import NetBed
from meshpos.chaos.reconcile import CONSOLE, Holdings, reconcile
from meshpos.chaos.workload import MONEY, Ledger
from meshpos.errors import MeshposError


def holding(
    receipts: dict[str, str], payments: dict[str, str], refunds: dict[str, str]
) -> Holdings:
    """Records by id -> parent (order for receipts and payments, receipt for refunds)."""
    got = Holdings(checked=list(MONEY))
    for kind, records in (("receipts", receipts), ("payments", payments), ("refunds", refunds)):
        got.ids[kind] = list(records)
        got.parent |= records
    got.totals = {r: 100 for r in receipts}
    got.numbers = {r: ("R1", int(r[1:])) for r in receipts}
    return got


def acknowledged() -> Ledger:
    ledger = Ledger()
    ledger.acked["receipts"] = {"r1", "r2"}
    ledger.acked["payments"] = {"p1", "p2"}
    ledger.acked["refunds"] = {"f1"}
    ledger.totals = {"r1": 100, "r2": 100}
    return ledger


EVERYTHING = ({"r1": "o1", "r2": "o2"}, {"p1": "o1", "p2": "o2"}, {"f1": "r1"})


def test_every_holder_with_exactly_the_acknowledged_records_is_clean() -> None:
    holders = {name: holding(*EVERYTHING) for name in ("R1", "K1", CONSOLE)}
    result = reconcile(acknowledged(), holders)
    assert (result["lost"], result["duplicated"], result["diverged"]) == (0, 0, [])
    assert result["present_at_console"] == {
        "receipts": 2,
        "payments": 2,
        "refunds": 1,
        "no_sales": 0,
    }


def test_a_record_missing_on_one_node_is_lost_there_and_that_node_diverged() -> None:
    holders = {name: holding(*EVERYTHING) for name in ("R1", CONSOLE)}
    holders["K1"] = holding({"r1": "o1"}, {"p1": "o1"}, {"f1": "r1"})
    result = reconcile(acknowledged(), holders)
    assert result["lost"] == 2  # r2 and p2
    assert result["lost_everywhere"] == 0
    assert result["diverged"] == ["K1"]


def test_a_record_listed_twice_is_duplicated() -> None:
    holders = {name: holding(*EVERYTHING) for name in ("R1", CONSOLE)}
    holders["R1"].ids["receipts"].append("r1")
    assert reconcile(acknowledged(), holders)["duplicated"] == 1


def test_records_of_an_unanswered_payment_are_explained_but_must_be_everywhere() -> None:
    ledger = acknowledged()
    ledger.doubt_orders.add("o3")
    extra = ({**EVERYTHING[0], "r3": "o3"}, {**EVERYTHING[1], "p3": "o3"}, EVERYTHING[2])
    everywhere = {name: holding(*extra) for name in ("R1", "K1", CONSOLE)}
    result = reconcile(ledger, everywhere)
    assert result["unexpected"] == 0
    assert result["unacknowledged_present"] == 2
    assert result["diverged"] == []
    partly = {**everywhere, "K1": holding(*EVERYTHING)}
    assert reconcile(ledger, partly)["diverged"] == ["K1"]


def test_no_sale_openings_reconcile_and_an_unanswered_one_is_explained_by_its_register() -> None:
    """A no-sale opening belongs to no other record: one acknowledged must be everywhere, one that
    turns up unacknowledged is explained only by an unanswered no-sale call on its register."""
    ledger = acknowledged()
    ledger.acked["no_sales"] = {"n1"}
    holders = {name: holding(*EVERYTHING) for name in ("R1", "K1", CONSOLE)}
    for held in holders.values():
        held.ids["no_sales"] = ["n1", "n2"]
        held.parent |= {"n1": "R1", "n2": "R2"}
    assert reconcile(ledger, holders)["unexpected"] == 1  # n2: nobody asked for it
    ledger.doubt_registers.add("R2")
    result = reconcile(ledger, holders)
    assert (result["unexpected"], result["diverged"]) == (0, [])
    assert result["present_at_console"]["no_sales"] == 1
    holders["K1"].ids["no_sales"] = ["n2"]
    result = reconcile(ledger, holders)
    assert (result["lost"], result["diverged"]) == (1, ["K1"])


def test_a_receipt_number_taken_twice_is_reused_and_a_missing_one_a_gap() -> None:
    holders = {name: holding(*EVERYTHING) for name in ("R1", CONSOLE)}
    result = reconcile(acknowledged(), holders)
    assert (result["numbers_reused"], result["number_gaps"]) == (0, {})
    holders["R1"].numbers["r2"] = ("R1", 1)  # r1 has R1 seq 1 too
    holders[CONSOLE].numbers["r2"] = ("R1", 3)
    result = reconcile(acknowledged(), {"R1": holders["R1"]})
    assert result["numbers_reused"] == 2
    assert reconcile(acknowledged(), {CONSOLE: holders[CONSOLE]})["number_gaps"] == {"R1": [2]}


def test_a_record_nobody_asked_for_is_unexpected() -> None:
    phantom = ({**EVERYTHING[0], "r9": "o9"}, EVERYTHING[1], EVERYTHING[2])
    result = reconcile(acknowledged(), {"R1": holding(*phantom), CONSOLE: holding(*phantom)})
    assert result["unexpected"] == 1
    assert result["diverged"] == ["R1", CONSOLE]


def test_an_unreadable_holder_counts_as_diverged_not_as_clean() -> None:
    holders = {name: holding(*EVERYTHING) for name in ("R1", CONSOLE)}
    holders["R2"] = Holdings()  # did not answer: nothing checked
    result = reconcile(acknowledged(), holders)
    assert result["diverged"] == ["R2"]
    assert result["checked"]["R2"] == []


def test_without_namespaces_the_command_refuses_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        NetBed, "available", classmethod(lambda cls: (False, "network namespaces need root"))
    )
    parser = argparse.ArgumentParser()
    add_chaos_arguments(parser)
    with pytest.raises(MeshposError, match="network namespaces need root"):
        run_chaos(parser.parse_args(["--seed", "1", "--duration", "10"]))
