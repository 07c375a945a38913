"""The discovery contract, run against the real mDNS discovery (on loopback) and the in-memory fake alike.

The real one runs on 127.x.y.z addresses: each node its own address, used as both interface and advertised
address, so nothing leaves the machine (docs/architecture.md (Network rule)). The second and third octets are random
per run, and venue and node ids are random per test, because other test runs on this machine share the
loopback multicast group: their advertisements reach us, and our filters must (and do) ignore them.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Mapping
from pathlib import Path
from typing import Any

import pytest
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from meshpos.doctor.probes import browse
from meshpos.engine.changes import ChangeFeed, Subscription
from meshpos.errors import ConfigError, LocalProtocolError
from meshpos.harness.loop_watch import LoopWatch
from meshpos.harness.venue import enroll_directly
from meshpos.harness.wait import until
from meshpos.net.adverts import SERVICE_TYPE, PeerAd, make_txt, service_name, venue_hash
from meshpos.net.discovery import Discovery
from meshpos.net.discovery_probe import issued_by_our_ca
from meshpos.net.memory_discovery import MemoryDirectory, MemoryDiscovery
from meshpos.sync import PROTOCOL_VERSION
from meshpos.trust import (
    VenueAuthority,
    ca_fingerprint,
    init_venue,
    load_identity,
    server_ssl_context,
)
from meshpos.trust.tls import venue_probe_context

LOGGER = "meshpos.net.discovery"
_OCTETS = (random.randint(100, 200), random.randint(0, 255))
_HOSTS = itertools.count(1)


def loopback() -> str:
    """A fresh loopback address for this run (all of 127.0.0.0/8 is loopback on Linux)."""
    n = next(_HOSTS)
    return f"127.{_OCTETS[0]}.{(_OCTETS[1] + n // 250) % 256}.{n % 250 + 1}"


def token() -> str:
    return secrets.token_hex(4)


def ca_of(venue: str) -> str:
    """A stand-in for a venue CA's key fingerprint (trust.ca_fingerprint): one per venue of a test."""
    return hashlib.sha256(f"ca of {venue}".encode()).hexdigest()


class Node:
    """One discovery instance and everything its callbacks heard."""

    def __init__(self, discovery: Discovery | MemoryDiscovery) -> None:
        self.d = discovery
        self.found: list[PeerAd] = []
        self.removed: list[str] = []
        self.feed = ChangeFeed()  # one event per callback: what a wait on this node wakes on

    def changes(self) -> Subscription:
        return self.feed.subscribe()

    @property
    def id(self) -> str:
        return self.d.ad.node_id

    def on_found(self, ad: PeerAd) -> None:
        self.found.append(ad)
        self.feed.publish(presence=True)

    def on_removed(self, node_id: str) -> None:
        self.removed.append(node_id)
        self.feed.publish(presence=True)

    def sees(self, *others: Node) -> bool:
        return all(o.id in self.d.peers for o in others)

    def latest(self, node_id: str) -> PeerAd | None:
        return next((ad for ad in reversed(self.found) if ad.node_id == node_id), None)


class Harness:
    """Builds nodes of one kind (``zeroconf`` or ``memory``) and raw advertisements for the contract."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.venue = f"venue-{token()}"
        self.directory = MemoryDirectory()
        self.nodes: list[Node] = []
        self.raw: dict[str, tuple[AsyncZeroconf, AsyncServiceInfo]] = {}

    def node(self, node_id: str | None = None, *, venue: str | None = None, **options: Any) -> Node:
        address = loopback()
        venue_id = self.venue if venue is None else venue
        kwargs: dict[str, Any] = {
            "venue_id": venue_id,
            "ca": ca_of(venue_id),
            "node_id": f"n{len(self.nodes)}-{token()}" if node_id is None else node_id,
            "role": "register",
            "port": 20000 + len(self.nodes),
            "interfaces": [address],
        }
        kwargs.update(options)
        holder: list[Node] = []
        kwargs["on_found"] = lambda ad: holder[0].on_found(ad)
        kwargs["on_removed"] = lambda nid: holder[0].on_removed(nid)
        d: Discovery | MemoryDiscovery
        if self.kind == "memory":
            d = MemoryDiscovery(directory=self.directory, **kwargs)
        else:
            d = Discovery(**kwargs)
        holder.append(Node(d))
        self.nodes.append(holder[0])
        return holder[0]

    async def start(self, *nodes: Node) -> None:
        """In parallel: one after another, each waits out its own ~1 s of mDNS probing."""
        await asyncio.gather(*(n.d.start() for n in nodes))

    async def publish_raw(
        self, label: str, txt: Mapping[bytes, bytes | None], port: int = 20999
    ) -> str:
        """Put an arbitrary advertisement on the air (or change it); returns its address."""
        name = f"{label}.{SERVICE_TYPE}"
        if self.kind == "memory":
            self.directory.publish(name, txt, "10.9.9.9", port)
            return "10.9.9.9"
        if label in self.raw:
            azc, old = self.raw[label]
            address = old.parsed_addresses()[0]
            info = self._info(label, txt, port, address)
            await azc.async_update_service(info)
        else:
            address = loopback()
            azc = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
            info = self._info(label, txt, port, address)
            await azc.async_register_service(info, cooperating_responders=True)
        self.raw[label] = (azc, info)
        return address

    @staticmethod
    def _info(
        label: str, txt: Mapping[bytes, bytes | None], port: int, address: str
    ) -> AsyncServiceInfo:
        return AsyncServiceInfo(
            SERVICE_TYPE,
            f"{label}.{SERVICE_TYPE}",
            port=port,
            properties=dict(txt),
            server=f"raw-{label}.local.",
            parsed_addresses=[address],
        )

    async def withdraw_raw(self, label: str) -> None:
        if self.kind == "memory":
            self.directory.withdraw(f"{label}.{SERVICE_TYPE}")
            return
        azc, info = self.raw.pop(label)
        await (await azc.async_unregister_service(info))
        await azc.async_close()

    async def close(self) -> None:
        await asyncio.gather(*(n.d.stop() for n in self.nodes))
        await asyncio.gather(*(azc.async_close() for azc, _ in self.raw.values()))


@pytest.fixture(params=["zeroconf", "memory"])
async def h(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    harness = Harness(request.param)
    yield harness
    await harness.close()


def report(h: Harness, what: str, seconds: float) -> None:
    print(f"\n[discovery/{h.kind}] {what}: {seconds * 1000:.0f} ms")


def skip_reasons(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    marker = f"ignoring {name}: "
    return [
        r.getMessage().split(marker, 1)[1]
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.INFO and marker in r.getMessage()
    ]


# --- the contract -------------------------------------------------------------------------------


async def test_four_nodes_find_each_other_and_ignore_another_venue(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    nodes = [h.node(role="kds" if i == 3 else "register") for i in range(4)]
    stranger = h.node(venue=f"other-{token()}")
    t0 = time.monotonic()
    await h.start(*nodes, stranger)
    started = time.monotonic() - t0
    await until(
        lambda: all(n.sees(*(o for o in nodes if o is not n)) for n in nodes),
        10.0,
        "mesh",
        on=[*nodes],
    )
    report(h, "4 nodes: start (parallel) returned", started)
    report(h, "4 nodes: all found each other", time.monotonic() - t0)
    for n in nodes:
        assert n.d.peers == {o.id: o.d.ad for o in nodes if o is not n}
        assert sorted(ad.node_id for ad in n.found) == sorted(o.id for o in nodes if o is not n)
        assert n.removed == []
    assert nodes[0].d.peers[nodes[3].id].role == "kds"
    assert nodes[0].d.peers[nodes[1].id].protocol == PROTOCOL_VERSION

    # The stranger hears all of us and we hear it; nobody reports the other venue.
    # (the stranger also logs its own advertisement, as "our own node")
    def other_venue_logged() -> bool:
        reasons = skip_reasons(caplog, service_name(stranger.id, stranger.d.ad.venue))
        return any(r.startswith("other venue") for r in reasons)

    await until(other_venue_logged, 10.0, "skip log")
    assert stranger.found == []
    assert stranger.d.peers == {}
    assert stranger.d.ad.venue != venue_hash(h.venue)


async def test_a_goodbye_triggers_on_removed(h: Harness) -> None:
    a, b, c = h.node(), h.node(), h.node()
    await h.start(a, b, c)
    await until(lambda: a.sees(b, c) and b.sees(a, c), 10.0, "mesh", on=[b, c, a])
    t0 = time.monotonic()
    stopping = asyncio.create_task(c.d.stop())
    seen = await until(
        lambda: c.id in a.removed and c.id in b.removed, 10.0, "goodbye", on=[c, a, b]
    )
    await stopping
    report(h, "goodbye seen by both peers after stop() began", seen)
    report(h, "stop() took", time.monotonic() - t0)
    assert a.d.peers.keys() == {b.id}
    assert b.d.peers.keys() == {a.id}
    assert a.removed == [c.id]
    await c.d.stop()  # idempotent


async def test_late_joiner_finds_and_is_found(h: Harness) -> None:
    first = [h.node() for _ in range(3)]
    await h.start(*first)
    await until(
        lambda: all(n.sees(*(o for o in first if o is not n)) for n in first),
        10.0,
        "all(n.sees(*(o for o in first if o is not n)) for n in first)",
        on=[*first],
    )
    late = h.node()
    t0 = time.monotonic()
    await h.start(late)
    sees = await until(
        lambda: late.sees(*first), 10.0, "late joiner sees the others", on=[late, *first]
    )
    report(h, "late joiner: start() returned", time.monotonic() - t0 - sees)
    report(h, "late joiner sees the others", time.monotonic() - t0)
    await until(
        lambda: all(n.sees(late) for n in first),
        10.0,
        "the others see the late joiner",
        on=[late, *first],
    )
    report(h, "late joiner is seen by all", time.monotonic() - t0)


async def test_what_is_not_ours_is_skipped_with_a_reason(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    me = h.node()
    await h.start(me)
    v = venue_hash(h.venue).encode()
    good = dict(make_txt(venue=venue_hash(h.venue), node_id="x", role="register"))
    cases: dict[str, tuple[dict[bytes, bytes | None], str]] = {
        "badproto": ({**good, b"node": b"badproto", b"proto": b"one"}, "malformed: TXT proto"),
        "newproto": ({**good, b"node": b"newproto", b"proto": b"2"}, "other protocol version 2"),
        "novenue": ({b"node": b"novenue", b"role": b"kds", b"proto": b"1"}, "malformed: TXT v"),
        "othervenue": ({**good, b"node": b"othervenue", b"v": b"0" * 16}, "other venue"),
        "nonode": ({b"v": v, b"role": b"kds", b"proto": b"1"}, "malformed: TXT node"),
        "wrongnode": ({**good, b"node": b"someone-else"}, "does not match the service name"),
        "badrole": ({**good, b"node": b"badrole", b"role": b"\xff\xfe"}, "malformed: TXT role"),
        "flagrole": ({**good, b"node": b"flagrole", b"role": None}, "malformed: TXT role"),
    }
    labels = {case: f"{case}-{token()}" for case in cases}
    for case, (txt, _) in cases.items():
        if b"node" in txt and txt[b"node"] == case.encode():
            txt[b"node"] = labels[case].encode()
    await asyncio.gather(*(h.publish_raw(labels[c], txt) for c, (txt, _) in cases.items()))
    # A valid raw advertisement alongside shows the malformed ones did not stop anything.
    ok = f"ok-{token()}"
    await h.publish_raw(ok, {**good, b"node": ok.encode()})
    await until(lambda: ok in me.d.peers, 10.0, "the valid raw advertisement", on=[me])

    def all_logged() -> bool:
        return all(skip_reasons(caplog, service_name(labels[c])) for c in cases)

    await until(all_logged, 10.0, "one INFO line per skipped advertisement")
    for case, (_, reason) in cases.items():
        logged = skip_reasons(caplog, service_name(labels[case]))
        assert len(logged) == 1, (case, logged)
        assert reason in logged[0], (case, logged)
    assert me.d.peers.keys() == {ok}
    assert [ad.node_id for ad in me.found] == [ok]
    assert me.d.stats.skipped >= len(cases)


async def test_new_port_is_reported_again_and_a_venue_change_removes(h: Harness) -> None:
    me = h.node()
    await h.start(me)
    label = f"mover-{token()}"
    txt = make_txt(venue=venue_hash(h.venue), node_id=label, role="register")
    address = await h.publish_raw(label, txt, port=21001)
    await until(lambda: label in me.d.peers, 10.0, "first advertisement", on=[me])
    assert me.d.peers[label] == PeerAd(label, "register", venue_hash(h.venue), address, 21001, 1)
    await h.publish_raw(label, txt, port=21002)
    await until(lambda: me.d.peers[label].port == 21002, 10.0, "the new port", on=[me])
    assert [ad.port for ad in me.found] == [21001, 21002]
    await h.publish_raw(label, {**txt, b"role": b"kds"}, port=21002)
    await until(lambda: me.d.peers[label].role == "kds", 10.0, "the new role", on=[me])
    await h.publish_raw(label, {**txt, b"v": b"f" * 16}, port=21002)
    await until(lambda: me.removed == [label], 10.0, "removal after a venue change", on=[me])
    assert me.d.peers == {}


async def test_reannounce_is_quiet(h: Harness) -> None:
    a, b = h.node(reannounce_interval=0.1), h.node(reannounce_interval=0.1)
    await h.start(a, b)
    await until(lambda: a.sees(b) and b.sees(a), 10.0, "a.sees(b) and b.sees(a)", on=[b, a])
    await until(
        lambda: a.d.stats.reannounced >= 3 and b.d.stats.reannounced >= 3,
        10.0,
        "a.d.stats.reannounced >= 3 and b.d.stats.reannounced >= 3",
    )
    assert [ad.node_id for ad in a.found] == [b.id]
    assert [ad.node_id for ad in b.found] == [a.id]
    assert a.removed == b.removed == []


async def test_a_node_id_already_on_the_air_is_refused(h: Harness) -> None:
    first, witness = h.node(), h.node()
    await h.start(first, witness)
    await until(lambda: witness.sees(first), 10.0, "witness.sees(first)", on=[first, witness])
    twin = h.node(first.id)
    with pytest.raises(ConfigError, match="already advertised"):
        await twin.d.start()
    await twin.d.stop()
    # The refused twin sent no goodbye for the name: once a later node is seen, the witness has
    # processed anything the twin sent, and still lists the original.
    late = h.node()
    await h.start(late)
    await until(lambda: witness.sees(late), 10.0, "witness.sees(late)", on=[late, witness])
    assert witness.removed == []
    assert witness.d.peers[first.id] == first.d.ad


# --- two venues with one venue id on one LAN (a food hall; two shops that each ran the README) -----


def another_ca(h: Harness) -> str:
    """The CA of a second venue made with the same venue id as ``h``'s."""
    return ca_of(f"another venue also called {h.venue}")


def reasons_for(caplog: pytest.LogCaptureFixture, *names: str) -> list[str]:
    return [r for name in names for r in skip_reasons(caplog, name)]


async def test_two_venues_with_one_venue_id_work_side_by_side(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: venue B's R1 failed to start ("already advertised"), the mDNS name being made of
    venue id and node id only."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    r1, r2, ca_b = f"R1-{token()}", f"R2-{token()}", another_ca(h)
    a = [h.node(r1), h.node(r2)]
    await h.start(*a)
    await until(lambda: a[0].sees(a[1]) and a[1].sees(a[0]), 10.0, "venue A", on=a)
    b = [h.node(r1, ca=ca_b), h.node(r2, ca=ca_b)]
    await h.start(*b)
    await until(lambda: b[0].sees(b[1]) and b[1].sees(b[0]), 10.0, "venue B", on=[*a, *b])
    # A holds the names N-1 nodes accept; B took the ones made from its CA
    assert [n.d.name for n in a] == [
        service_name(r1, venue_hash(h.venue)),
        service_name(r2, venue_hash(h.venue)),
    ]
    assert [n.d.name for n in b] == [service_name(r1, ca=ca_b), service_name(r2, ca=ca_b)]

    def each_side_skipped_the_other() -> bool:
        mine = [n.d.name for n in a]
        theirs = [n.d.name for n in b]
        return (
            sum("another CA" in r for r in reasons_for(caplog, *theirs)) >= 2
            and sum("another CA" in r for r in reasons_for(caplog, *mine)) >= 2
        )

    await until(each_side_skipped_the_other, 10.0, "each venue skipped the other's")
    for venue in (a, b):
        for me, peer in ((venue[0], venue[1]), (venue[1], venue[0])):
            assert me.d.peers == {peer.id: peer.d.ad}
            assert me.found == [peer.d.ad]  # never the other venue's, not even for a moment
            assert me.removed == []
    assert a[0].d.ad.address != b[0].d.ad.address


async def test_a_twin_in_our_venue_is_refused_under_either_name(h: Harness) -> None:
    """Venue B's R1 holds the name made from its CA (A's R1 holds the first): another R1 of B is
    refused while A's R1 holds the first name, and once it has left too."""
    r1, ca_b = f"R1-{token()}", another_ca(h)
    a1 = h.node(r1)
    await h.start(a1)
    b1, witness = h.node(r1, ca=ca_b), h.node(ca=ca_b)
    await h.start(b1, witness)
    await until(lambda: witness.sees(b1), 10.0, "witness.sees(b1)", on=[b1, witness])
    twin = h.node(r1, ca=ca_b)
    with pytest.raises(ConfigError, match=r"already advertised .* another device of this venue"):
        await twin.d.start()
    await twin.d.stop()
    await a1.d.stop()  # the first name is free now: the twin takes it, sees B's R1, and withdraws
    twin = h.node(r1, ca=ca_b)
    with pytest.raises(ConfigError, match=r"already advertised .* another device of this venue"):
        await twin.d.start()
    await twin.d.stop()
    late = h.node(ca=ca_b)
    await h.start(late)
    await until(lambda: witness.sees(late), 10.0, "witness.sees(late)", on=[late, witness])
    assert witness.removed == []
    assert witness.found == [b1.d.ad, late.d.ad]
    assert witness.d.peers[r1] == b1.d.ad


async def test_an_older_node_holding_our_name_is_refused_with_the_reason(h: Harness) -> None:
    """An N-1 advertisement says no CA: another venue's, or this venue's device with our id. Refused,
    and the error says both (a duplicate node id would duplicate receipt numbers)."""
    r1 = f"R1-{token()}"
    label = service_name(r1, venue_hash(h.venue)).split(".", 1)[0]
    await h.publish_raw(label, make_txt(venue=venue_hash(h.venue), node_id=r1, role="register"))
    me = h.node(r1)
    with pytest.raises(ConfigError, match=r"older release .* another venue with the same venue id"):
        await me.d.start()
    await me.d.stop()


async def test_our_venues_node_beats_another_venues_older_node_with_its_id(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Venue A's R1 runs N-1 (no CA in its advertisement) and holds R1's first name; venue B's R1 and
    R2 are new: B's R2 dials B's R1, whichever advertisement it heard first."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    r1, ca_b = f"R1-{token()}", another_ca(h)
    label = service_name(r1, venue_hash(h.venue)).split(".", 1)[0]
    old = await h.publish_raw(
        label, make_txt(venue=venue_hash(h.venue), node_id=r1, role="register")
    )
    witness = h.node(ca=ca_b)
    await h.start(witness)
    await until(
        lambda: r1 in witness.d.peers, 10.0, "the old node (taken on its venue hash)", on=[witness]
    )
    assert witness.d.peers[r1].address == old
    assert witness.d.peers[r1].ca == ""
    b1 = h.node(r1, ca=ca_b)
    with pytest.raises(ConfigError, match="older release"):
        await b1.d.start()  # it cannot tell the old node is not its twin
    await b1.d.stop()
    # once the old node is gone, B's R1 holds the first name and is the only R1
    await h.withdraw_raw(label)
    await until(lambda: r1 not in witness.d.peers, 10.0, "the old node's goodbye", on=[witness])
    b1 = h.node(r1, ca=ca_b)
    await h.start(b1)
    await until(lambda: witness.d.peers.get(r1) == b1.d.ad, 10.0, "B's R1", on=[witness, b1])
    # an N-1 node with R1's id under another name (the bare node id, as older releases named it):
    # B's R2 keeps B's R1
    await h.publish_raw(r1, make_txt(venue=venue_hash(h.venue), node_id=r1, role="register"))
    await until(
        lambda: any(
            "advertised with our venue's CA" in r for r in skip_reasons(caplog, service_name(r1))
        ),
        10.0,
        "the CA-less advertisement skipped",
    )
    assert witness.d.peers[r1] == b1.d.ad


async def test_lifecycle_misuse(h: Harness) -> None:
    n = h.node()
    async with n.d:
        with pytest.raises(LocalProtocolError):
            await n.d.start()
    await n.d.stop()
    with pytest.raises(LocalProtocolError):
        await n.d.start()
    never = h.node()
    await never.d.stop()  # stopping what never started is a no-op


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"interfaces": []}, "at least one interface"),
        ({"interfaces": "127.0.0.11"}, "at least one interface"),
        ({"interfaces": ["::1"]}, "IPv4"),
        ({"interfaces": ["eth0"]}, "IPv4"),
        ({"address": "localhost"}, "IPv4"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"port": True}, "port"),
        ({"node_id": "a.b"}, "node_id"),
        ({"node_id": ""}, "node_id"),
        ({"role": "Register"}, "role"),
        ({"venue_id": ""}, "venue"),
        ({"ca": ""}, "ca"),
        ({"ca": "F" * 64}, "ca"),
        ({"reannounce_interval": 0}, "reannounce_interval"),
    ],
)
def test_bad_arguments_are_config_errors(h: Harness, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        h.node(**options)


# --- real mDNS only -----------------------------------------------------------------------------


async def test_an_interface_this_host_does_not_have_is_refused() -> None:
    # 203.0.113.0/24 is TEST-NET-3: never assigned here, and the check binds before any mDNS socket exists.
    d = Discovery(
        venue_id="v",
        ca=ca_of("v"),
        node_id="n1",
        role="register",
        port=20000,
        interfaces=["203.0.113.77"],
        on_found=lambda ad: None,
    )
    with pytest.raises(ConfigError, match="not an address of this host"):
        await d.start()


async def test_the_event_loop_is_never_blocked() -> None:
    """Start, browse, resolve, churn and stop while a watch measures how long the loop is kept from a 5 ms timer.

    What is measured is blocking (meshpos.harness.loop_watch): the lag less the time the loop's thread
    waited for a CPU, so a machine loaded by other test runs does not fail it (390 ms of plain lag was
    seen under load) while a blocking call in discovery still does (tests/test_loop_watch.py).
    """
    h = Harness("zeroconf")
    async with LoopWatch() as watch:
        try:
            nodes = [h.node() for _ in range(4)]
            await h.start(*nodes)
            await until(
                lambda: all(n.sees(*(o for o in nodes if o is not n)) for n in nodes),
                10.0,
                "all(n.sees(*(o for o in nodes if o is not n)) for n in nodes)",
                on=[*nodes],
            )
            await nodes[0].d.stop()
            await until(
                lambda: all(nodes[0].id in n.removed for n in nodes[1:]),
                10.0,
                "all(nodes[0].id in n.removed for n in nodes[1:])",
                on=[*nodes],
            )
        finally:
            await h.close()
    print("\n" + watch.summary("discovery/zeroconf"))
    assert watch.max_blocked_s < 0.1, watch.summary("discovery/zeroconf")


async def _tls_device(authority: VenueAuthority, node_id: str, where: Path) -> asyncio.Server:
    """A listener presenting ``node_id``'s certificate of ``authority``, as a node's mesh port does."""
    enroll_directly(authority, node_id, "register", where, reissue=True)
    context = server_ssl_context(load_identity(where))

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    return await asyncio.start_server(hang_up, loopback(), 0, ssl=context)


async def test_an_older_node_is_asked_for_its_certificate(tmp_path: Path) -> None:
    """An N-1 device holding our first name says no CA: its certificate tells. Another venue's (same
    venue id, its own CA): we start under our CA's name; our venue's (a twin): refused."""
    h = Harness("zeroconf")
    try:
        venue_a = init_venue(tmp_path / "a", "A", h.venue)
        venue_b = init_venue(tmp_path / "b", "B", h.venue)
        ca_b = ca_fingerprint(venue_b.ca_pem)
        probe = venue_probe_context(venue_b.ca_pem)

        def same_venue(host: str, port: int) -> Awaitable[bool | None]:
            return issued_by_our_ca(probe, host, port, 3.0)

        for authority, starts in ((venue_a, True), (venue_b, False)):
            r1 = f"R1-{token()}"
            server = await _tls_device(authority, r1, tmp_path / r1)
            host, port = server.sockets[0].getsockname()[:2]
            label = service_name(r1, venue_hash(h.venue)).split(".", 1)[0]
            txt = make_txt(venue=venue_hash(h.venue), node_id=r1, role="register")
            h.raw[label] = await _raw_at(label, txt, host, port)
            me = h.node(r1, ca=ca_b, same_venue=same_venue)
            if starts:
                await me.d.start()
                assert me.d.name == service_name(r1, ca=ca_b)
            else:
                with pytest.raises(ConfigError, match="of the previous release"):
                    await me.d.start()
            await me.d.stop()
            server.close()
    finally:
        await h.close()


async def _raw_at(
    label: str, txt: Mapping[bytes, bytes | None], host: str, port: int
) -> tuple[AsyncZeroconf, AsyncServiceInfo]:
    azc = AsyncZeroconf(interfaces=[host], ip_version=IPVersion.V4Only)
    info = Harness._info(label, txt, port, host)
    await azc.async_register_service(info, cooperating_responders=True)
    return azc, info


async def test_the_doctor_lists_only_its_own_venues_devices() -> None:
    """``meshpos doctor`` browses: with two venues of one venue id on the LAN it lists its own venue's
    devices only, and its own node (under the name made from its CA) not as a peer."""
    h = Harness("zeroconf")
    try:
        r1, r2, ca_b = f"R1-{token()}", f"R2-{token()}", another_ca(h)
        a = [h.node(r1), h.node(r2)]
        await h.start(*a)
        b = [h.node(r1, ca=ca_b), h.node(r2, ca=ca_b)]
        await h.start(*b)
        interfaces = (loopback(),)
        peers, others = await browse(interfaces, h.venue, r1, 2.0, ca=ca_b)
        assert peers == {r2: b[1].d.ad}
        assert sum("another CA" in line for line in others) == 2, others
    finally:
        await h.close()
