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
from meshpos.harness.venue import DEVICES, Device, write_node_config


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


def names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every node's name and the registers' (the schedule needs them before anything is built)."""
    return tuple(n for n, _ in DEVICES), tuple(n for n, r in DEVICES if r == "register")
