"""Setting up a throw-away venue: the venue CA, enrolled devices with node.toml, the console's catalog.

Two ways to enroll a device. :func:`pair_device` goes through the real pairing flow (a one-time code,
SPAKE2 over a loopback socket), as an operator would; the demo and the chaos run use it.
:func:`enroll_directly` ends where ``meshpos enroll`` ends without the round trip (enrollment is tested in
tests/trust), and :func:`make_device` also writes what a console would have authored (the sample catalog)
straight into the device's store; benchmarks and tests use those. Nothing here touches the machine's
network: devices listen on loopback addresses only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshpos.config import Config, load_config, write_config_file
from meshpos.console.db import open_console_db
from meshpos.console.runner import register_venues
from meshpos.model import Replica, Venue
from meshpos.model.catalog import hash_pin
from meshpos.model.documents import CATALOG
from meshpos.model.sample import CASHIER, COOK, MANAGER, sample_catalog
from meshpos.store import SqliteStore
from meshpos.trust import (
    PairingCode,
    VenueAuthority,
    enroll,
    init_venue,
    save_identity,
    serve_pairing,
)
from meshpos.trust.certs import new_private_key, private_key_pem
from meshpos.trust.identity import identity_from_pems, new_csr


def catalog_update(pins: Mapping[str, str] | None = None) -> bytes:
    """The sample catalog as the console authored it (its own client id, which no node uses).

    ``pins`` (user id -> PIN) gives those users real PIN hashes, so they log in on a register page (the
    demo prints them); the others keep a hash no PIN matches, which spares tests and benchmarks scrypt."""
    replica = Replica()
    catalog = Venue(replica, device="console", role="console").catalog
    sample_catalog(catalog, pin_hash="x")
    for user_id, pin in (pins or {}).items():
        catalog.put_user(dataclasses.replace(catalog.user(user_id), pin_hash=hash_pin(pin)))
    return replica.doc(CATALOG).get_update()


def staff_pins(users: Iterable[str] = (CASHIER, MANAGER, COOK)) -> dict[str, str]:
    """A different random 4-digit PIN for each of the sample's users (the demo's staff)."""
    pins: dict[str, str] = {}
    while len(set(pins.values())) < len(pins) or not pins:
        pins = {user: f"{secrets.randbelow(10_000):04d}" for user in users}
    return pins


def make_venue(root: Path, name: str = "Bench Venue") -> VenueAuthority:
    """A new venue CA in ``root/venue``."""
    return init_venue(root / "venue", name)


def enroll_directly(
    authority: VenueAuthority,
    node_id: str,
    role: str,
    identity_dir: Path,
    *,
    reissue: bool = False,
) -> None:
    """Issue ``node_id`` a certificate and save its identity (key, certificate, venue CA);
    ``reissue``: the id was issued before (a wiped device enrolled again, ``pair --reissue``)."""
    key = new_private_key()
    cert = authority.issue(new_csr(key, node_id), node_id, role, reissue=reissue)
    save_identity(identity_dir, identity_from_pems(private_key_pem(key), cert, authority.ca_pem))


async def seed_store(config: Config, catalog: bytes | None) -> None:
    """Commit the catalog update to the device's store, as if it had synced it from the console; a
    register's store also records that it issued no receipt yet, which is true here because
    :func:`enroll_directly` issues each device id only once, so it sells without first learning its
    receipt numbers from a peer (see :mod:`meshpos.model.numbering`)."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    meta = {"receipt_seq": "0"} if config.role == "register" else None
    async with await SqliteStore.open(config.db_path) as store:
        await store.append([("catalog", catalog)] if catalog is not None else [], meta=meta)


async def make_device(
    authority: VenueAuthority,
    root: Path,
    node_id: str,
    *,
    role: str = "register",
    host: str = "127.0.0.1",
    catalog: bytes | None = None,
    **settings: Any,
) -> Config:
    """Enroll ``node_id``, write ``root/<node_id>.toml`` and return its config; seed ``catalog`` if given."""
    data = root / node_id
    enroll_directly(authority, node_id, role, data / "identity")
    values: dict[str, Any] = {
        "node_id": node_id,
        "role": role,
        "data_dir": str(data),
        "listen_host": host,
        "api_host": host,
        "log_level": "WARNING",
        **settings,
    }
    path = root / f"{node_id}.toml"
    write_config_file(path, values)
    config = load_config(path, env={})
    await seed_store(config, catalog)
    return config


def loopback_prefix(rng: random.Random) -> str:
    """A random 127.x.y block so two venues (a demo and a test run) never share addresses."""
    return f"127.{rng.randrange(100, 200)}.{rng.randrange(1, 250)}"


async def pair_device(
    authority: VenueAuthority, node_id: str, role: str, identity_dir: Path
) -> None:
    """``meshpos pair`` on the back-office machine and ``meshpos enroll`` on the new device."""
    ready: list[tuple[int, PairingCode]] = []
    listening = asyncio.Event()

    def on_ready(port: int, code: PairingCode) -> None:
        ready.append((port, code))
        listening.set()

    server = asyncio.create_task(
        serve_pairing(authority, role, "127.0.0.1", 0, device_id=node_id, on_ready=on_ready, ttl=60)
    )
    waiting = asyncio.create_task(listening.wait())
    await asyncio.wait({server, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if not ready:
        waiting.cancel()
        await server  # it ended before listening: raises what went wrong
    port, code = ready[0]
    await enroll(f"ws://127.0.0.1:{port}", code.display, node_id, identity_dir)  # saves it
    await server


async def console_database(
    root: Path, authority: VenueAuthority, pins: Mapping[str, str] | None = None
) -> str:
    """A console database that knows the venue and holds the catalog the console authored (with
    ``pins`` for those users, see :func:`catalog_update`); its URL."""
    db_url = f"sqlite:///{root / 'console.db'}"
    db = await open_console_db(db_url)
    try:
        await register_venues(db, [authority.directory])
        await db.append_updates(authority.venue_id, CATALOG, [catalog_update(pins)])
    finally:
        await db.close()
    return db_url


DEVICES = (("R1", "register"), ("R2", "register"), ("R3", "register"), ("K1", "kds"))  # demo, chaos


@dataclass(frozen=True, slots=True)
class Device:
    """A paired device: its identity and store live in ``data_dir``, its settings in ``config``."""

    name: str
    role: str
    config: Path
    data_dir: Path


@dataclass(frozen=True, slots=True)
class PairedVenue:
    authority: VenueAuthority
    db_url: str  # the console database, holding the catalog the console authored
    devices: dict[str, Device]

    @property
    def registers(self) -> tuple[str, ...]:
        return tuple(n for n, d in self.devices.items() if d.role == "register")


async def build_venue(
    root: Path,
    name: str,
    devices: Iterable[tuple[str, str]] = DEVICES,
    pins: Mapping[str, str] | None = None,
) -> PairedVenue:
    """The venue CA, the console database with its catalog (``pins``: see :func:`catalog_update`),
    and every device paired with a code."""
    authority = init_venue(root / "venue", name)
    db_url = await console_database(root, authority, pins)
    paired = {}
    for node_id, role in devices:
        data = root / node_id
        await pair_device(authority, node_id, role, data / "identity")
        paired[node_id] = Device(node_id, role, root / f"{node_id}.toml", data)
    return PairedVenue(authority, db_url, paired)


def write_node_config(
    device: Device,
    *,
    listen_host: str,
    api_host: str,
    console_url: str,
    console_token: str,
    heartbeat: float,
    mdns_interfaces: list[str] | None = None,
) -> None:
    """The device's node.toml; registers get the console's address and token (they may be the relay)."""
    values: dict[str, str | int | float | bool | list[str]] = {
        "node_id": device.name,
        "role": device.role,
        "data_dir": str(device.data_dir),
        "listen_host": listen_host,
        "api_host": api_host,
        "heartbeat_interval": heartbeat,
        "log_level": "INFO",
    }
    if mdns_interfaces is not None:
        values["mdns_interfaces"] = mdns_interfaces
    if device.role == "register":
        values |= {"console_url": console_url, "console_token": console_token}
    write_config_file(device.config, values)
