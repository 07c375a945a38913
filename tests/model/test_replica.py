from __future__ import annotations

import gc
import weakref

import pytest
from pycrdt import Map

from meshpos.errors import MeshposError
from meshpos.model import Replica, valid_document_name


def test_updates_are_captured_local_and_remote() -> None:
    a, b = Replica(), Replica()
    a.doc("stoplist").get("items", type=Map)["x/R1"] = {"stopped": True}
    [captured] = a.take_updates()
    assert (captured.document, captured.local) == ("stoplist", True)
    assert a.take_updates() == []
    b.apply("stoplist", captured.update)
    [received] = b.take_updates()
    assert (received.document, received.local, received.update) == (
        "stoplist",
        False,
        captured.update,
    )


def test_fresh_client_id_per_replica() -> None:
    ids = {Replica().client_id for _ in range(50)}
    assert len(ids) == 50
    assert all(0 < i < 2**53 for i in ids)
    assert Replica().doc("catalog").client_id != Replica().doc("catalog").client_id


@pytest.mark.parametrize("name", ["ledger/2026-11-25", "kitchen/2026-01-01", "catalog", "stoplist"])
def test_document_names(name: str) -> None:
    assert valid_document_name(name)
    assert Replica().doc(name) is not None


@pytest.mark.parametrize(
    "name",
    [
        "ledger",
        "ledger/26-1-1",
        "../etc",
        "catalog2",
        "",
        "kitchen/2026-11-25/x",
        "ledger/2026-02-31",  # the pattern's month and day, not a day of the calendar
        "kitchen/2025-02-29",
    ],
)
def test_bad_document_names_are_refused(name: str) -> None:
    with pytest.raises(MeshposError, match="not a meshpos document name"):
        Replica().doc(name)


def test_reversed_delivery_converges_after_a_state_vector_exchange() -> None:
    """pycrdt can keep out-of-order updates pending for good; one state-vector exchange repairs it."""
    a = Replica()
    items = a.doc("stoplist").get("items", type=Map)
    for i in range(10):
        items[f"p{i}/R1"] = {"stopped": bool(i % 2)}
    updates = [c.update for c in a.take_updates()]
    b = Replica()
    for update in reversed(updates):
        b.apply("stoplist", update)
    b.apply("stoplist", a.doc("stoplist").get_update(b.doc("stoplist").get_state()))
    assert b.doc("stoplist").get("items", type=Map).to_py() == items.to_py()


@pytest.mark.parametrize("drop", ["close", "unload"])
def test_a_day_dropped_from_the_replica_is_freed(drop: str) -> None:
    """The capture's observer is taken off: pycrdt keeps an observed document alive, so a closed day
    would otherwise stay in memory for good (measured: a 5,000-sale day's 35 MB never came back)."""
    replica = Replica()
    name = "ledger/2026-01-01"
    doc = replica.doc(name)
    doc.get("receipts", type=Map)["r1"] = "{}"
    assert replica.take_updates()  # captured while held
    alive = weakref.ref(doc)
    del doc
    getattr(replica, drop)(name)
    gc.collect()
    assert alive() is None
    assert replica.take_updates() == []
