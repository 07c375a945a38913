"""Node processes on hosts of their own (network namespaces on one bridge): real mDNS, real cable pulls,
a slow and lossy LAN. Every sale a register's API acknowledged must end up on every node, exactly once.

Nothing here touches the machine's own interfaces (FACTS.md, the network rule): each node announces and
listens on its host's LAN address only, and the test reaches each node's local API through an agent
inside its host (see netns_kit.py).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER

from ..netbed import NetBed, netbed_fixture  # noqa: F401  (provides the netbed fixture)
from .kit import make_device, make_venue
from .netns_kit import ApiError, NetnsMesh, NetnsNode, lan_drops, lan_loss, tcp_peers

NETNS_POLL_S = (
    0.05  # the nodes' APIs are reached through agents in their namespaces: no event stream
)
PRODUCTS = [["espresso"], ["croissant", "espresso"], ["lemonade"], ["burger", "fries"]]


@pytest.fixture
def mesh(netbed: NetBed, tmp_path: Path) -> Iterator[NetnsMesh]:
    """Depends on ``netbed``, so it is torn down first: nodes are killed, then the bed kills whatever is
    left in its namespaces and deletes them, whether the test passed or not."""
    built = NetnsMesh(netbed, tmp_path)
    try:
        yield built
    finally:
        built.close()


def add_nodes(mesh: NetnsMesh, names: list[str]) -> list[NetnsNode]:
    """One host per name; names starting with ``k`` are kitchen displays, the others registers."""
    authority = make_venue(mesh.root)
    nodes = []
    for name in names:
        host = mesh.netbed.add_host(name)
        node_id = name.upper()
        config = make_device(
            authority,
            mesh.root,
            node_id,
            role="kds" if name.startswith("k") else "register",
            host=host.ip,
            mdns_interfaces=[host.ip],
            heartbeat_interval=0.5,
        )
        node = NetnsNode(
            config,
            mesh.root / f"{node_id}.log",
            prefix=["ip", "netns", "exec", host.ns],
            host=host,
            name=node_id,
        )
        nodes.append(mesh.add(node))
    return nodes


def peers(node: NetnsNode) -> dict[str, bool]:
    result: dict[str, bool] = node.status()["peers"]
    return result


def describe_peers(nodes: list[NetnsNode]) -> str:
    try:
        return "links: " + "; ".join(f"{n.name} -> {peers(n)}" for n in nodes)
    except AssertionError as exc:
        return f"links (status failed: {exc})"


def start_and_link(mesh: NetnsMesh, timeout: float) -> str:
    """Start every node and wait until each has finished its initial sync with all the others; how long
    that took, from the first start and from the last node's ready line."""
    nodes = mesh.nodes
    names = {n.name for n in nodes}
    started = time.monotonic()
    mesh.start_all()
    wait_for(
        lambda: all(set(p := peers(n)) == names - {n.name} and all(p.values()) for n in nodes),
        timeout,
        lambda: describe_peers(nodes),
        ignore=(ApiError,),
        every=NETNS_POLL_S,
    )
    done = time.monotonic()
    last_ready = max(n.ready_at for n in nodes)
    return f"{done - started:.2f} s after the first start ({done - last_ready:.2f} s after the last ready)"


def sell_many(node: NetnsNode, count: int) -> list[dict[str, Any]]:
    """``count`` sales, each one acknowledged by the API (``sell`` raises on any error status)."""
    return [node.sell(CASHIER, PRODUCTS[i % len(PRODUCTS)]) for i in range(count)]


def sell_everywhere(plan: list[tuple[NetnsNode, int]]) -> dict[str, dict[str, Any]]:
    """Sell on several registers at once; the acknowledged receipts by id."""
    with ThreadPoolExecutor(len(plan)) as pool:
        futures = [pool.submit(sell_many, node, count) for node, count in plan]
        receipts = [r for future in futures for r in future.result()]
    by_id = {r["id"]: r for r in receipts}
    assert len(by_id) == len(receipts), "two acknowledged sales share a receipt id"
    return by_id


def holds(node: NetnsNode, wanted: set[str]) -> bool:
    return wanted <= {r["id"] for r in node.receipts()}


def missing(nodes: list[NetnsNode], wanted: set[str]) -> str:
    parts = []
    for node in nodes:
        try:
            parts.append(f"{node.name} misses {len(wanted - {r['id'] for r in node.receipts()})}")
        except AssertionError as exc:
            parts.append(f"{node.name}: {exc}")
    return f"every acknowledged receipt on every node ({', '.join(parts)}; {describe_peers(nodes)})"


def assert_exactly_once(nodes: list[NetnsNode], acknowledged: dict[str, dict[str, Any]]) -> None:
    """Every node holds exactly the acknowledged receipts: none lost, none twice, none altered, and
    every register's numbers are unique and gap-free."""
    for node in nodes:
        held = node.receipts()
        ids = Counter(r["id"] for r in held)
        assert not [i for i, n in ids.items() if n > 1], f"{node.name}: duplicated receipt ids"
        assert set(ids) == set(acknowledged), (
            f"{node.name}: lost {len(set(acknowledged) - set(ids))}, "
            f"unexpected {len(set(ids) - set(acknowledged))}"
        )
        for receipt in held:
            assert receipt == acknowledged[receipt["id"]], f"{node.name}: receipt {receipt} altered"
    by_register: dict[str, list[dict[str, Any]]] = {}
    for receipt in acknowledged.values():
        by_register.setdefault(receipt["register"], []).append(receipt)
    for register, receipts in by_register.items():
        numbers = Counter(r["number"] for r in receipts)
        assert max(numbers.values()) == 1, f"{register}: receipt numbers reused: {numbers}"
        assert sorted(r["seq"] for r in receipts) == list(range(1, len(receipts) + 1)), register
        assert all(r["number"].startswith(f"{register}-") for r in receipts), receipts


def test_a_pulled_cable_loses_and_duplicates_no_sale(mesh: NetnsMesh) -> None:
    r1, r2, r3, k1 = add_nodes(mesh, ["r1", "r2", "r3", "k1"])
    nodes, registers, others = [r1, r2, r3, k1], [r1, r2, r3], [r1, r2, k1]
    bed, h3 = mesh.netbed, r3.netns_host
    with mesh.logs_on_failure():
        linked = start_and_link(mesh, timeout=30)
        print(f"\n[netns mesh] 4 nodes on 4 hosts found each other and synced {linked}")
        for register in registers:
            register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})

        bed.cable(h3, up=False)
        plan = [(r3, 10), (r1, 5), (r2, 5)]
        with ThreadPoolExecutor(1) as pool:
            # From the moment of the pull: the first updates go out on sockets nobody has declared
            # dead yet, and are lost with them.
            first = pool.submit(sell_everywhere, plan)
            noticed = wait_for(
                lambda: not peers(r3) and all(r3.name not in peers(n) for n in others),
                20,
                lambda: f"both sides to notice the pull ({describe_peers(nodes)})",
                ignore=(ApiError,),
                every=NETNS_POLL_S,
            )
            acknowledged = first.result()
        # what the registers show: R3 is on its own (gray), the others still have peers (yellow)
        wait_for(
            lambda: (
                r3.status()["colour"] == "gray"
                and all(n.status()["colour"] == "yellow" for n in others)
            ),
            10,
            lambda: "colours " + ", ".join(f"{n.name} {n.status()['colour']}" for n in nodes),
            ignore=(ApiError,),
            every=NETNS_POLL_S,
        )
        acknowledged |= sell_everywhere(plan)  # more while both sides know they are apart
        # A long pull, not a blip: wait until the kernel on both sides has dropped the old
        # connections, so what follows the plug-back is fresh dialling, not stale sockets reviving.
        torn_down = wait_for(
            lambda: (
                not tcp_peers(bed, h3)
                and all(h3.ip not in tcp_peers(bed, n.netns_host) for n in others)
            ),
            60,
            "the old connections to be closed on both sides",
            ignore=(ApiError,),
            every=NETNS_POLL_S,
        )
        print(
            f"[netns mesh] cable pulled: both sides noticed in {noticed:.2f} s, old connections "
            f"gone {torn_down:.2f} s later; {len(acknowledged)} sales acknowledged"
        )
        isolated = {i for i, r in acknowledged.items() if r["register"] == r3.name}
        assert len(isolated) == 20
        rest = set(acknowledged) - isolated
        # The partition is real: nothing crossed it.
        assert {r["id"] for r in r3.receipts()} == isolated
        for node in others:
            assert {r["id"] for r in node.receipts()} == rest, node.name

        bed.cable(h3, up=True)
        everything = set(acknowledged)
        converged = wait_for(
            lambda: all(holds(n, everything) for n in nodes),
            45,
            lambda: missing(nodes, everything),
            ignore=(ApiError,),
            every=NETNS_POLL_S,
        )
        print(
            f"[netns mesh] cable plugged back: all {len(everything)} receipts on all 4 nodes "
            f"{converged:.2f} s later"
        )
        assert_exactly_once(nodes, acknowledged)
        wait_for(
            lambda: all(len(peers(n)) == 3 for n in nodes),
            20,
            lambda: describe_peers(nodes),
            ignore=(ApiError,),
            every=NETNS_POLL_S,
        )


def test_a_slow_lossy_lan_still_converges(mesh: NetnsMesh) -> None:
    nodes = add_nodes(mesh, ["r1", "r2", "r3", "k1"])
    registers = nodes[:3]
    bed = mesh.netbed
    for node in nodes:  # before the start: discovery and the first sync cross the bad LAN too
        bed.limit(node.netns_host, "1mbit")
        lan_loss(bed, node.netns_host, 0.10)
    with mesh.logs_on_failure():
        linked = start_and_link(mesh, timeout=45)
        print(f"\n[netns mesh] 1 Mbit/s, 10 % loss: 4 nodes found each other and synced {linked}")
        for register in registers:
            register.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 10_000})
        started = time.monotonic()
        acknowledged = sell_everywhere([(r, 20) for r in registers])
        sold = time.monotonic() - started
        everything = set(acknowledged)
        converged = wait_for(
            lambda: all(holds(n, everything) for n in nodes),
            60,
            lambda: missing(nodes, everything),
            ignore=(ApiError,),
            every=NETNS_POLL_S,
        )
        drops = sum(lan_drops(bed, n.netns_host) for n in nodes)
        print(
            f"[netns mesh] 1 Mbit/s, 10 % loss: {len(everything)} sales on 3 registers in "
            f"{sold:.2f} s; on all 4 nodes {converged:.2f} s after the last one; "
            f"{drops} packets dropped on the LAN"
        )
        assert drops > 0
        assert_exactly_once(nodes, acknowledged)
