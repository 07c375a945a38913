"""The chaos venue: the network (LAN, router, the console's own network) and the devices on it.

Topology, all inside namespaces of one :class:`NetBed`::

    R1 ─┐
    R2 ─┼─ LAN bridge ── router ── WAN bridge ── console
    R3 ─┤   (split in two      (forwards;      (its cable is the
    K1 ─┘    for partitions)    no multicast)   "internet outage")

mDNS stays on the LAN (a router does not forward multicast), registers reach the console's address through
the router, and every fault is a real network event: a port down, a port moved to another bridge, a
queueing discipline, an iptables rule. The devices are enrolled through the real pairing flow, as in
``meshpos demo`` (:mod:`meshpos.harness.venue`); the console database holds the catalog it authored.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshpos.chaos.netbed import Host, Lan, NetBed
from meshpos.harness.venue import Device, write_node_config
from meshpos.sync._rules import forwards_everything
from meshpos.sync._topology import DEGREE, graph

#: registers in a chaos venue unless told (with one kitchen screen: 4 devices, a full mesh)
REGISTERS = 3
#: at most this many registers (each its own namespace and process on one machine)
MAX_REGISTERS = 16


@dataclass(frozen=True, slots=True)
class Network:
    bed: NetBed
    lan: Lan
    wan: Lan
    router: Host
    console: Host
    hosts: dict[str, Host]  # node name -> its host


def build_network(bed: NetBed, names: list[str]) -> Network:
    """Hosts for ``names`` on the LAN, a router to the WAN and the console's host on the WAN."""
    lan, wan = bed.add_lan("lan"), bed.add_lan("wan")
    hosts = {name: bed.add_host(name.lower(), lan) for name in names}
    router = bed.add_host("router", lan)
    bed.attach(router, wan)
    bed.forwarding(router)
    console = bed.add_host("console", wan)
    for host in hosts.values():
        bed.route(host, wan.subnet, router.nic(lan).ip)
    bed.route(console, lan.subnet, router.nic(wan).ip)
    return Network(bed, lan, wan, router, console, hosts)


def write_config(
    device: Device, ip: str, *, console_url: str, console_token: str, heartbeat: float
) -> None:
    """Mesh and mDNS on the host's LAN address; the API on the namespace's own loopback (reached by
    the agent, and untouched by LAN loss rules)."""
    write_node_config(
        device,
        listen_host=ip,
        api_host="127.0.0.1",
        mdns_interfaces=[ip],
        console_url=console_url,
        console_token=console_token,
        heartbeat=heartbeat,
    )


def devices(registers: int = REGISTERS) -> tuple[tuple[str, str], ...]:
    """The venue's devices: ``registers`` registers R1, R2, … and one kitchen screen K1. With more than
    five registers the venue has more than ``_topology.FULL_MESH`` devices, so its nodes link on the
    bounded topology (most updates arrive forwarded, the kitchen screen hangs on two registers)."""
    return (*((f"R{i}", "register") for i in range(1, registers + 1)), ("K1", "kds"))


def names(registers: int = REGISTERS) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every node's name and the registers' (the schedule needs them before anything is built)."""
    chosen = devices(registers)
    return tuple(n for n, _ in chosen), tuple(n for n, r in chosen if r == "register")


def expected_links(nodes: list[str], roles: dict[str, str]) -> dict[str, frozenset[str]]:
    """The links every node wants once every node knows every other (``_topology``): a full mesh up
    to ``FULL_MESH`` devices, the bounded graph beyond, kitchen screens as its leaves."""
    leaves = [n for n in nodes if not forwards_everything(roles[n])]
    return graph(nodes, DEGREE, leaves)
