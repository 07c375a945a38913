"""Sync status per register at the console: what the database holds from each register (SQLite and
PostgreSQL), and the device view built from the relays' heartbeats."""

from __future__ import annotations

from meshpos.console import ConsoleDB, materialise
from meshpos.console.devices import MAX_REMEMBERED, DeviceView
from meshpos.sync import Heartbeat
from meshpos.sync._messages import PeerSummary

from .conftest import VENUE
from .day import LEDGER, NOW, ledger_doc, sell, simulate_day


async def test_register_report_counts_receipts_and_dates_the_last_record(
    venue_db: ConsoleDB,
) -> None:
    assert await venue_db.register_report(VENUE) == []
    r1, r2 = simulate_day()
    await materialise(venue_db, VENUE, LEDGER, ledger_doc(r1), at_ms=NOW)
    report = {r["register"]: r for r in await venue_db.register_report(VENUE)}
    receipts = {"R1": 0, "R2": 0}
    for receipt in r1.ledger(LEDGER.split("/", 1)[1]).receipts():
        receipts[receipt.register] += 1
    assert report == {
        "R1": {"register": "R1", "receipts": receipts["R1"], "last_record_ms": NOW},
        "R2": {"register": "R2", "receipts": receipts["R2"], "last_record_ms": NOW},
    }
    assert all(
        type(v) is int for r in report.values() for v in (r["receipts"], r["last_record_ms"])
    )

    # R2 sells again; only R2's figures move, and the same upload twice changes nothing
    assert r2.open_shift() is not None  # R2 kept its shift open
    sell(r2, ("lemonade", 1), method="card", at=NOW + 1_000)
    for at in (NOW + 5_000, NOW + 9_000):
        await materialise(venue_db, VENUE, LEDGER, ledger_doc(r2), at_ms=at)
    again = {r["register"]: r for r in await venue_db.register_report(VENUE)}
    assert again["R1"] == report["R1"]
    assert again["R2"] == {
        "register": "R2",
        "receipts": receipts["R2"] + 1,
        "last_record_ms": NOW + 5_000,
    }
    assert await venue_db.register_report("another-venue") == []


def beat(node: str, **kw: object) -> Heartbeat:
    fields: dict[str, object] = {"role": "register", "priority": 100, "uplink": False}
    fields |= {"relay": False, "seq": 1} | kw
    return Heartbeat(node=node, **fields)  # type: ignore[arg-type]


def test_the_device_view_lists_relays_what_they_link_to_and_registers_with_records() -> None:
    view = DeviceView()
    relay = beat(
        "R1",
        relay=True,
        uplink=True,
        pending={LEDGER: 2},
        peers=("K1", "R2", "console"),
        mesh={"R2": PeerSummary("register", 5), "K1": PeerSummary("kds", 0)},
    )
    stored = [
        {"register": "R1", "receipts": 4, "last_record_ms": 1_000_000},
        {"register": "R3", "receipts": 2, "last_record_ms": 900_000},  # sold, not heard this run
    ]
    now = 1_010.0
    report = view.report({"R1": relay, "console": beat("console", role="console")}, stored, now)
    assert set(report) == {"K1", "R1", "R2", "R3"}  # the console itself is not a device
    assert report["R1"] == {
        "role": "register",
        "reachable": True,
        "via": "R1",
        "relay": True,
        "uplink": True,
        "pending": 2,
        "pending_told": None,
        "last_heard_s": 0.0,
        "refused": None,
        "receipts": 4,
        "last_record_ms": 1_000_000,
        "last_record_s": 10.0,
        "shift_open_since": None,
    }
    assert report["R2"] | {"last_heard_s": None} == {
        "role": "register",
        "reachable": True,
        "via": "R1",
        "relay": False,
        "uplink": False,
        "pending": 5,
        "pending_told": None,
        "last_heard_s": None,
        "refused": None,
        "receipts": 0,
        "last_record_ms": None,
        "last_record_s": None,
        "shift_open_since": None,
    }
    assert (report["K1"]["role"], report["K1"]["pending"]) == ("kds", 0)
    assert report["R3"]["role"] == "register"
    assert (report["R3"]["reachable"], report["R3"]["pending"], report["R3"]["last_heard_s"]) == (
        False,
        None,
        None,
    )

    # the relay goes silent: everyone stays listed, unreachable, with when they were last heard of
    later = view.report({}, stored, now + 30)
    assert all(not d["reachable"] and d["pending"] is None for d in later.values())
    assert {n: d["last_heard_s"] for n, d in later.items()} == {
        "K1": 30.0,
        "R1": 30.0,
        "R2": 30.0,
        "R3": None,
    }
    assert later["K1"]["role"] == "kds"

    # an older relay (no ``mesh``) still makes its peers reachable; roles heard before are kept
    old = beat("R2", relay=True, peers=("K1", "R4"))
    mixed = view.report({"R2": old}, stored, now + 40)
    assert (mixed["K1"]["reachable"], mixed["K1"]["role"]) == (True, "kds")
    assert mixed["K1"]["pending"] is None  # not told
    assert (mixed["R4"]["role"], mixed["R4"]["via"]) == (None, "R2")


def test_a_relay_naming_endless_devices_cannot_grow_the_view_forever() -> None:
    view = DeviceView()
    for i in range(3):
        names = {f"X{i}-{n}": PeerSummary("register", 0) for n in range(MAX_REMEMBERED // 2 + 1)}
        view.observe({"R1": beat("R1", mesh=names)}, float(i))
    assert len(view.report({}, [], 10.0)) == MAX_REMEMBERED


def test_a_pending_count_is_taken_only_from_a_relay_linked_to_the_device() -> None:
    """(nineteenth session, signed) A device in a relay's ``mesh`` but not its ``peers`` is beyond its links:
    its count is a far record's, any hop's word, so ``pending`` is unknown and the count shown as
    told; a second relay linked to it gives its own heartbeat's count, whichever relay comes first."""
    far_first = beat("R1", relay=True, peers=("R2",), mesh={"R3": PeerSummary("register", 0)})
    linked = beat("R4", relay=True, peers=("R3",), mesh={"R3": PeerSummary("register", 6)})
    alone = DeviceView().report({"R1": far_first}, [], 50.0)
    assert (alone["R3"]["reachable"], alone["R3"]["pending"], alone["R3"]["pending_told"]) == (
        True,
        None,
        0,
    )
    both = DeviceView().report({"R1": far_first, "R4": linked}, [], 50.0)
    assert (both["R3"]["pending"], both["R3"]["pending_told"], both["R3"]["via"]) == (6, None, "R4")


def test_a_device_refused_for_its_token_is_shown_so_until_heard_again() -> None:
    """A knock with a replaced token names its device (``refused``), nothing else: not reachable, no
    count; once a relay links to it again (it was given the new token) the refusal is past. Bounded."""
    view = DeviceView()
    view.refused("R2", "wrong venue token", 100.0)
    r2 = view.report({}, [], 101.0)["R2"]
    assert (r2["refused"], r2["reachable"], r2["pending"], r2["role"]) == (
        "wrong venue token", False, None, None,
    )  # fmt: skip
    relay = beat("R1", relay=True, uplink=True, peers=frozenset({"R2"}))
    assert view.report({"R1": relay}, [], 102.0)["R2"]["refused"] is None  # reachable now
    assert view.report({}, [], 103.0)["R2"]["refused"] is None  # heard after its knock
    view.refused("R2", "wrong venue token", 104.0)  # knocks again with the old one
    assert view.report({}, [], 105.0)["R2"]["refused"] == "wrong venue token"
    for n in range(MAX_REMEMBERED + 5):
        view.refused(f"X{n}", "wrong venue token", 200.0 + n)
    assert len([d for d in view.report({}, [], 9e3).values() if d["refused"]]) == MAX_REMEMBERED
