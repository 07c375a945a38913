"""Setting up the demo venue the way an operator would: venue init, console, pairing codes, enrollment.

Every device is enrolled through the real pairing flow (a one-time code, SPAKE2 over a loopback socket)
and gets its own data directory and node.toml; the console authors the catalog.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from pathlib import Path

from meshpos.bench.venue_setup import catalog_update
from meshpos.config import write_config_file
from meshpos.console.db import open_console_db
from meshpos.console.runner import register_venues
from meshpos.trust import PairingCode, VenueAuthority, enroll, init_venue, serve_pairing

DEVICES = (("R1", "register"), ("R2", "register"), ("R3", "register"), ("K1", "kds"))


@dataclass(frozen=True)
class Device:
    node_id: str
    role: str
    host: str
    config: Path
    data_dir: Path


def loopback_prefix(rng: random.Random) -> str:
    """A random 127.x.y block so two demos (or a demo and a test run) never share addresses."""
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


async def console_database(root: Path, authority: VenueAuthority) -> str:
    """A console database that knows the venue and holds the catalog the console authored; its URL."""
    db_url = f"sqlite:///{root / 'console.db'}"
    db = await open_console_db(db_url)
    try:
        await register_venues(db, [authority.directory])
        await db.append_updates(authority.venue_id, "catalog", [catalog_update()])
    finally:
        await db.close()
    return db_url


async def build_venue(root: Path, rng: random.Random) -> tuple[VenueAuthority, str, list[Device]]:
    """The venue, its console database (with the catalog the console authored) and the devices."""
    authority = init_venue(root / "venue", "Café Mesh (demo)")
    db_url = await console_database(root, authority)
    prefix = loopback_prefix(rng)
    devices = []
    for i, (node_id, role) in enumerate(DEVICES, start=11):
        host = f"{prefix}.{i}"
        data = root / node_id
        await pair_device(authority, node_id, role, data / "identity")
        devices.append(Device(node_id, role, host, root / f"{node_id}.toml", data))
    return authority, db_url, devices


def write_config(device: Device, *, console_url: str, console_token: str, heartbeat: float) -> None:
    values: dict[str, str | int | float | bool | list[str]] = {
        "node_id": device.node_id,
        "role": device.role,
        "data_dir": str(device.data_dir),
        "listen_host": device.host,
        "api_host": device.host,
        "heartbeat_interval": heartbeat,
        "log_level": "INFO",
    }
    if device.role == "register":
        values |= {"console_url": console_url, "console_token": console_token}
    write_config_file(device.config, values)
