"""Found from the outside (eleventh round, a tired cashier): a guest brings a burger back to the bar's
register while the manager, told at the terrace register, refunds the same receipt there, with the
registers out of touch (cable out, or the same second). Each register checks what was refunded before
it refunds, and saw none of the other's: both refunds stood, the drawer gave the money back twice, and
nothing anywhere said so (no conflict, no console alarm; only a refunds report summing more than the
receipt). Both still stand (the money did leave both drawers), and the console raises a
``refunded_twice`` alarm naming the receipt, the line and both refunds (``conflicts.over_refunds``).

Real processes: the console, R1 (the relay) and R2 on loopback with mDNS; R2 takes the receipt, is
stopped, R1 refunds and is stopped, R2 refunds alone, then R1 comes back and uploads R2's refund."""

from __future__ import annotations

import random
from pathlib import Path

from meshpos.harness.wait import wait_for
from meshpos.localapi import ApiError
from meshpos.model.sample import MANAGER

from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue


def test_one_receipt_refunded_on_two_registers_out_of_touch_is_a_console_alarm(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    console = ConsoleProcess(tmp_path, [authority.directory]).start()
    prefix = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}"
    r1 = NodeProcess(
        make_device(
            authority,
            tmp_path,
            "R1",
            host=f"{prefix}.11",
            heartbeat_interval=0.5,
            console_url=str(console.ready["console"]),
            console_token=authority.console_token,
        ),
        tmp_path / "R1.log",
    )
    r2 = NodeProcess(
        make_device(authority, tmp_path, "R2", host=f"{prefix}.12", heartbeat_interval=0.5),
        tmp_path / "R2.log",
    )
    venue = f"/api/venues/{authority.venue_id}"
    try:
        r1.start()
        r2.start()
        for node in (r1, r2):
            node.call("POST", "/api/shifts", {"user": MANAGER, "opening_cash": 10_000})
        receipt = r1.sell(MANAGER, ["burger"])

        def r2_holds_it() -> bool:
            try:
                return bool(r2.call("GET", f"/api/receipts/{receipt['id']}"))
            except ApiError:
                return False

        wait_for(r2_holds_it, 60, "R2 holds R1's receipt", on=[r2.events])
        assert r2.stop() == 0
        refund = {"user": MANAGER, "reason": "brought back"}
        first = r1.call("POST", f"/api/receipts/{receipt['id']}/refunds", refund)
        wait_for(
            lambda: (
                first["id"]
                in {row["id"] for row in console.call("GET", f"{venue}/records?table=refunds")}
            ),
            60,
            "the console holds R1's refund",
        )
        assert r1.stop() == 0
        r2.start()  # alone: R1 is down, and R2 has no console
        second = r2.call("POST", f"/api/receipts/{receipt['id']}/refunds", refund)
        r1.start()  # links with R2 and uploads its refund

        def alarms() -> list[dict[str, object]]:
            return [
                a for a in console.call("GET", f"{venue}/alarms") if a["kind"] != "corrupt_record"
            ]

        wait_for(lambda: bool(alarms()), 90, "the console's alarm", on=[r1.events])
        [alarm] = alarms()
        assert alarm["kind"] == "refunded_twice", alarm
        detail = str(alarm["detail"])
        assert f"receipt {receipt['number']}: 1 x 'Burger' sold, 2 refunded" in detail, detail
        assert first["id"] in detail
        assert second["id"] in detail
        refunds = {row["id"] for row in console.call("GET", f"{venue}/records?table=refunds")}
        assert {first["id"], second["id"]} <= refunds  # both kept: the money left both drawers
    finally:
        r1.kill()
        r2.kill()
        console.stop()
