"""A throw-away venue for benchmarks: the venue CA, enrolled devices with node.toml, a seeded catalog.

What ``meshpos enroll`` ends with, without the pairing round trip (enrollment is tested in tests/trust), and
what a console would have authored (the sample catalog), written straight into each device's store. Nothing
here touches the network: devices listen on loopback addresses only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshpos.config import Config, load_config, write_config_file
from meshpos.model import Replica, Venue
from meshpos.model.sample import sample_catalog
from meshpos.store import SqliteStore
from meshpos.trust import VenueAuthority, init_venue, save_identity
from meshpos.trust.certs import new_private_key, private_key_pem
from meshpos.trust.identity import identity_from_pems, new_csr


def catalog_update() -> bytes:
    """The sample catalog as the console authored it (its own client id, which no node uses)."""
    replica = Replica()
    sample_catalog(Venue(replica, device="console", role="console").catalog, pin_hash="x")
    return replica.doc("catalog").get_update()


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
