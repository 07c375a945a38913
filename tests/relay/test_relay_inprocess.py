"""Console + relay in one event loop: upload, console state in presence, edits flowing down."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import load_config
from meshpos.harness.wait import until
from meshpos.model.sample import CASHIER
from meshpos.node_adapters import make_node
from meshpos.sync import Chunk, SyncStep2, SyncUpdate, decode
from meshpos.sync._codec import messages_in
from meshpos.trust import VenueAuthority

from ..mesh.kit import make_device, make_venue
from ..mesh.test_node_inprocess import receipts
from .consoles import Console, running_console


@pytest.fixture
def authority(tmp_path: Path) -> VenueAuthority:
    return make_venue(tmp_path)


@pytest.fixture
async def console(tmp_path: Path, authority: VenueAuthority) -> AsyncIterator[Console]:
    async with running_console(tmp_path, [authority.directory]) as running:
        yield running


async def test_relay_uploads_and_console_edits_reach_every_register(
    tmp_path: Path, authority: VenueAuthority, console: Console
) -> None:
    url, token = console.url, authority.console_token
    common: dict[str, Any] = {"heartbeat_interval": 0.2}
    paths = [
        make_device(authority, tmp_path, "R1", console_url=url, console_token=token, **common),
        make_device(authority, tmp_path, "R2", console_url=url, console_token=token, **common),
        make_device(authority, tmp_path, "R3", **common),  # no internet of its own
    ]
    nodes = [make_node(load_config(p, env={}), discovery=False) for p in paths]
    try:
        for node in nodes:
            await node.start()
        r1, r2, r3 = nodes
        for a, b in [(r1, r2), (r1, r3), (r2, r3)]:
            a.add_peer(b.config.node_id, "127.0.0.1", b.port)
        await until(
            lambda: all(len(n.status().peers) == 2 for n in nodes), 10, "mesh linked", on=nodes
        )
        await r3.open_shift(CASHIER, 10_000)
        order = await r3.open_order(CASHIER)
        await r3.add_line(CASHIER, order.id, "espresso", 2)
        paid = await r3.pay(CASHIER, order.id, "cash", tendered=10_000)
        assert paid.receipt is not None
        took = await until(
            lambda: all(n.status().message == "All data is synced" for n in nodes),
            15,
            "every register synced",
            on=nodes,
        )
        print(f"\nall registers green and synced {took:.2f} s after the sale")
        assert all(n.status().colour == "green" for n in nodes)
        relays = [n.config.node_id for n in nodes if n.status().is_relay]
        assert relays == ["R1"], relays  # lowest (priority, id) among those with internet
        hub = await console.server.hub(authority.venue_id)
        await hub.settle()
        report = await console.db.receipt_report(authority.venue_id)
        assert [r["id"] for r in report] == [paid.receipt.id]
        # a price change at the console reaches R3, which has no internet of its own
        await hub.edit(
            lambda v: v.catalog.put_product(
                dataclasses.replace(v.catalog.product("espresso"), price=999)
            )
        )
        await until(
            lambda: r3.venue.catalog.product("espresso").price == 999, 10, "price on R3", on=[r3]
        )
        assert receipts(r2) == {paid.receipt.id}
    finally:
        for node in nodes:
            await node.stop()


async def test_two_relays_at_once_upload_the_same_records_without_duplicates(
    tmp_path: Path, authority: VenueAuthority, console: Console
) -> None:
    """A split view: two registers that both hold the same day each think they are the relay."""
    settings: dict[str, Any] = {
        "console_url": console.url,
        "console_token": authority.console_token,
        "heartbeat_interval": 0.2,
    }
    paths = [make_device(authority, tmp_path, n, **settings) for n in ("R1", "R2")]
    configs = [load_config(p, env={}) for p in paths]
    # first the day happens with both registers linked and the console unreachable
    offline = [dataclasses.replace(c, console_url="", console_token="") for c in configs]
    async with (
        make_node(offline[0], discovery=False) as r1,
        make_node(offline[1], discovery=False) as r2,
    ):
        r1.add_peer("R2", "127.0.0.1", r2.port)
        await until(lambda: len(r1.status().peers) == 1, 10, "R1 linked to R2", on=[r1])
        sold = set()
        for node in (r1, r2):
            await node.open_shift(CASHIER, 1_000)
            for _ in range(5):
                order = await node.open_order(CASHIER)
                await node.add_line(CASHIER, order.id, "espresso", 1)
                paid = await node.pay(CASHIER, order.id, "card")
                assert paid.receipt is not None
                sold.add(paid.receipt.id)
        await until(
            lambda: receipts(r1) == receipts(r2) == sold, 10, "both hold the day", on=[r1, r2]
        )
    # then each comes back alone (split view) with internet: both claim the relay and upload
    nodes = [make_node(c, discovery=False) for c in configs]
    for node in nodes:
        await node.start()
    await until(lambda: all(n.status().is_relay for n in nodes), 10, "two relays", on=nodes)
    await until(
        lambda: all(n.status().message == "All data is synced" for n in nodes),
        15,
        "uploaded",
        on=nodes,
    )
    hub = await console.server.hub(authority.venue_id)
    await hub.settle()
    at_console = [r["id"] for r in await console.db.records(authority.venue_id, "receipts")]
    assert sorted(at_console) == sorted(sold)
    assert await console.db.alarms(authority.venue_id) == []
    for node in nodes:
        await node.stop()


async def test_clear_cache_is_refused_while_unsynced_and_then_repulls_the_console_catalog(
    tmp_path: Path, authority: VenueAuthority, console: Console
) -> None:
    from meshpos.errors import ClearCacheRefused
    from meshpos.harness.internet import InternetSwitch

    internet = InternetSwitch("127.0.0.1", console.port)
    await internet.start()
    common: dict[str, Any] = {"heartbeat_interval": 0.2}
    r1_path = make_device(
        authority,
        tmp_path,
        "R1",
        console_url=f"ws://127.0.0.1:{internet.port}",
        console_token=authority.console_token,
        **common,
    )
    r2_path = make_device(authority, tmp_path, "R2", **common)  # no internet of its own
    r1 = make_node(load_config(r1_path, env={}), discovery=False)
    r2 = make_node(load_config(r2_path, env={}), discovery=False)
    try:
        await r1.start()
        await r2.start()
        r1.add_peer("R2", "127.0.0.1", r2.port)
        await until(
            lambda: r2.status().colour == "green", 10, "R2 green through the relay", on=[r2]
        )
        # the console's catalog arrives on R2 (the seeded one was the same: both come from the console)
        hub = await console.server.hub(authority.venue_id)
        # green speaks of R2's own changes; the seeded catalog reaches the console with the relay's
        # first exchange, which may still be under way
        await until(
            lambda: any(p.id == "espresso" for p in hub.venue.catalog.products()),
            10,
            "the catalog at the console",
        )
        await hub.edit(
            lambda v: v.catalog.put_product(
                dataclasses.replace(v.catalog.product("espresso"), price=777)
            )
        )
        await until(
            lambda: r2.venue.catalog.product("espresso").price == 777, 10, "price on R2", on=[r2]
        )

        internet.cut()
        await until(lambda: r2.status().colour == "yellow", 10, "R2 yellow", on=[r2])
        await r2.open_shift(CASHIER, 0)
        status = r2.status()
        assert status.pending > 0
        with pytest.raises(ClearCacheRefused, match="not at the console yet"):
            await r2.clear_cache()
        assert r2.venue.catalog.product("espresso").price == 777  # nothing was dropped

        internet.restore()
        # pending reaches 0 as soon as the console has everything; green needs the relay's next
        # heartbeat saying it reaches the console, and clear cache needs both
        await until(
            lambda: (s := r2.status()).message == "All data is synced" and s.colour == "green",
            15,
            "R2 green and synced",
            on=[r2],
        )
        dropped = await r2.clear_cache()
        assert dropped == ["catalog"]
        await until(
            lambda: (
                r2.replica.doc("catalog").get_state() != b"\x00"
                and r2.venue.catalog.product("espresso").price == 777
            ),
            10,
            "the catalog pulled again",
            on=[r2],
        )
        order = await r2.open_order(CASHIER)  # and the register sells with it
        await r2.add_line(CASHIER, order.id, "espresso", 1)
    finally:
        await r2.stop()
        await r1.stop()
        await internet.stop()
    async with make_node(load_config(r2_path, env={}), discovery=False) as again:
        assert (
            again.venue.catalog.product("espresso").price == 777
        )  # the re-pulled catalog is durable


async def test_a_relay_whose_uploads_the_console_does_not_take_gives_up_and_another_takes_over(
    tmp_path: Path, authority: VenueAuthority, console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Green means data flows: the console hears R1 (heartbeats) but takes none of its sales, so its
    state vectors stop advancing while R1 has a sale to send. R1 gives the relay role up within a few
    of the console's heartbeats, saying why, and R2 uploads the sale."""
    settings: dict[str, Any] = {
        "console_url": console.url,
        "console_token": authority.console_token,
        "heartbeat_interval": 0.2,
    }
    r1c, r2c = (
        load_config(make_device(authority, tmp_path, n, priority=p, **settings), env={})
        for n, p in (("R1", 10), ("R2", 50))
    )
    hub = await console.server.hub(authority.venue_id)
    take = hub.link_messages

    def r1_sale(key: str, data: bytes) -> bool:
        message = decode(data, len(data))
        return (
            hub.relays.get(key) == "R1"
            and isinstance(message, SyncStep2 | SyncUpdate | Chunk)
            and message.doc.startswith("ledger/")
        )

    async def drop_r1_changes(key: str, messages: list[bytes]) -> None:
        # R1's sales: heard, never taken
        inside = [m for data in messages for m in messages_in(data)]  # (a batch: each message)
        await take(key, [data for data in inside if not r1_sale(key, data)])

    monkeypatch.setattr(hub, "link_messages", drop_r1_changes)
    async with make_node(r1c, discovery=False) as r1, make_node(r2c, discovery=False) as r2:
        r1.add_peer("R2", "127.0.0.1", r2.port)
        await until(lambda: r1.status().is_relay and r1.status().uplink, 10, "R1 relays")
        await r1.open_shift(CASHIER, 1_000)
        order = await r1.open_order(CASHIER)
        await r1.add_line(CASHIER, order.id, "espresso", 1)
        paid = await r1.pay(CASHIER, order.id, "card")
        assert paid.receipt is not None
        gave_up = await until(lambda: r2.status().is_relay, 10, "R2 takes the relay role", on=[r2])
        print(f"\nR1's uploads went nowhere: R2 took over {gave_up:.2f} s after the sale")
        assert r1.counters["console_give_ups"] >= 1
        assert not r1.status().is_relay
        took = await until(
            lambda: all(n.status().label == "Synced" for n in (r1, r2)),
            15,
            "the sale uploaded by R2",
            on=[r1, r2],
        )
        print(f"both synced {took:.2f} s later")
        await hub.settle()
        report = await console.db.receipt_report(authority.venue_id)
        assert [r["id"] for r in report] == [paid.receipt.id]


async def test_with_no_other_relay_a_stalled_one_shows_yellow_with_why_until_data_flows(
    tmp_path: Path, authority: VenueAuthority, console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R1 alone has internet and the console takes none of its sales: every register is yellow with
    the reason, R1 retrying after its back-off does not make anyone green, and once the console
    takes the sales again both say All data is synced and the reason is gone."""
    online: dict[str, Any] = {"console_url": console.url, "console_token": authority.console_token}
    r1c, r2c = (
        load_config(make_device(authority, tmp_path, n, heartbeat_interval=0.2, **s), env={})
        for n, s in (("R1", online), ("R2", {}))
    )
    hub = await console.server.hub(authority.venue_id)
    take = hub.link_messages
    refusing = True

    def a_sale(data: bytes) -> bool:
        message = decode(data, len(data))
        return (
            refusing
            and isinstance(message, SyncStep2 | SyncUpdate | Chunk)
            and message.doc.startswith("ledger/")
        )

    async def drop_r1_sales(key: str, messages: list[bytes]) -> None:
        inside = [m for data in messages for m in messages_in(data)]  # (a batch: each message)
        await take(key, [data for data in inside if not a_sale(data)])

    monkeypatch.setattr(hub, "link_messages", drop_r1_sales)
    async with make_node(r1c, discovery=False) as r1, make_node(r2c, discovery=False) as r2:
        r1.add_peer("R2", "127.0.0.1", r2.port)
        await until(lambda: r2.status().colour == "green", 10, "R2 green through R1", on=[r2])
        await r1.open_shift(CASHIER, 1_000)
        reason = "the console is not taking R1's changes"

        def yellow_with_reason() -> bool:
            return all(
                s.colour == "yellow" and reason[1:] in s.message  # it may begin it: "The console…"
                for s in (r1.status(), r2.status())
            )

        took = await until(yellow_with_reason, 10, "both yellow, saying why", on=[r1, r2])
        print(f"\nR1's sales went nowhere: both yellow with the reason after {took:.2f} s")
        print(r2.status().message)
        retried = r1.counters["console_give_ups"]
        seen: set[str] = set()

        def gave_up_again() -> bool:
            seen.update(n.status().colour for n in (r1, r2))
            return r1.counters["console_give_ups"] > retried

        await until(gave_up_again, 20, "R1 tries again and gives up")
        assert seen == {"yellow"}  # trying again is not data flowing: never green meanwhile
        refusing = False
        took = await until(
            lambda: all(n.status().label == "Synced" for n in (r1, r2)),
            60,
            "synced once the console takes it",
            on=[r1, r2],
        )
        print(f"the console takes R1's sales again: both synced {took:.2f} s later")
        assert r1.status().problems == {}
        assert r2.status().problems == {}
