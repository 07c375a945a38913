"""``meshpos doctor --config node.toml``: every reason a register or kitchen display may not work, checked
from the device itself, whether its node runs or not.

Order matters only where a check needs an earlier one: without a valid config nothing else can be
looked at, without an identity no peer can be asked. A running node is asked for its own view
(``/status``: colour, relay, pending); everything else is looked at independently of it, so a doctor
run also explains a node that does not start.
"""

from __future__ import annotations

import asyncio
import datetime
import shutil
import socket
import sqlite3
from pathlib import Path
from typing import Any

from meshpos.config import Config, load_config
from meshpos.doctor.probes import (
    DOCTOR_PATH,
    HttpAnswer,
    browse,
    check_writable,
    http_answer,
    lock_holder,
    process_name,
)
from meshpos.doctor.report import Report, when
from meshpos.doctor.uplink import check_console
from meshpos.errors import ConfigError, MeshposError, StoreError, TrustError
from meshpos.listen_check import apart_problem
from meshpos.localapi import LocalApi
from meshpos.model.tally import describe
from meshpos.net.adverts import PeerAd
from meshpos.ops.clock import (
    CERT_WARNING_DAYS,
    CLOCK_FIX,
    CLOCK_HARM,
    CLOCK_PROBLEM_S,
    CLOCK_WARNING_S,
    ENROLL_AGAIN,
    skew_words,
)
from meshpos.store.disk import DISK_PROBLEM_BYTES
from meshpos.store.lock import lock_path
from meshpos.store.schema import SCHEMA_VERSION, inspect
from meshpos.trust.certs import ca_fingerprint
from meshpos.trust.identity import DeviceIdentity, check_identity, load_identity
from meshpos.trust.names import device_hostname
from meshpos.trust.tls import client_ssl_context

DISK_WARNING_BYTES = 512 << 20
PEERS_AT_ONCE = 16  # peers asked at once: a big venue's doctor takes seconds, not minutes
BROWSE_SECONDS = 2.0  # how long mDNS is listened to (peers answer a query within about 1 s)


async def diagnose_node(path: Path, *, browse_seconds: float = BROWSE_SECONDS) -> Report:
    report = Report(f"node.toml {path}")
    try:
        config = load_config(path)
    except ConfigError as exc:
        # (asked of the file, not read off the error's words)
        missing = not await asyncio.to_thread(path.exists)
        fix = (
            "give the path of this device's node.toml"
            if missing
            else "correct the setting it names"
        )
        report.problem("config", exc.message, fix)
        return report
    report.subject = f"node {config.node_id} ({config.role}), {path}"
    report.ok("config", f"{path} is valid: node {config.node_id}, role {config.role}")
    identity = _identity(report, config)
    status = _running_status(config)
    skews: dict[str, float] = {}
    _data_dir(report, config)
    _lock(report, config, status)
    await asyncio.to_thread(_database, report, config, status)
    _disk(report, config)
    _ports(report, config, status)
    if identity is not None:
        peers = await _mdns(report, config, identity, browse_seconds)
        linked = set(status.get("peers") or {}) if status is not None else None
        revoked = await asyncio.to_thread(_revoked, config) if status is not None else set()
        context = client_ssl_context(identity)
        gate = asyncio.Semaphore(PEERS_AT_ONCE)

        async def ask(ad: PeerAd) -> HttpAnswer:
            async with gate:
                return await http_answer(
                    ad.address,
                    ad.port,
                    DOCTOR_PATH,
                    context=context,
                    server_hostname=device_hostname(ad.node_id, identity.venue_id),
                )

        ads = sorted(peers.values(), key=lambda ad: ad.node_id)
        for ad, answer in zip(ads, await asyncio.gather(*map(ask, ads)), strict=True):
            _peer(report, ad, answer, skews, linked, revoked)
    else:
        report.warning("peers", "not checked: the device has no usable identity")
    await check_console(report, config, identity, skews)
    _clock(report, skews)
    _status(report, config, status)
    return report


def _identity(report: Report, config: Config) -> DeviceIdentity | None:
    where = config.identity_path
    try:
        identity = load_identity(where)
        check_identity(identity, config.node_id, config.role, config.venue_id, where)
    except TrustError as exc:
        fix = "copy ca.pem from the venue directory (venue/ca.pem) or " + ENROLL_AGAIN
        report.problem("identity", exc.message, fix if "venue CA" in exc.message else ENROLL_AGAIN)
        return None
    except ConfigError as exc:
        report.problem("identity", exc.message, "correct node.toml or " + ENROLL_AGAIN)
        return None
    report.ok(
        "identity",
        f"{where}: device {identity.device_id} ({identity.role}) of venue {identity.venue_id}",
    )
    from meshpos.trust.certs import load_certificate

    now = datetime.datetime.now(datetime.UTC)
    for what, pem in (("certificate", identity.cert_pem), ("venue CA", identity.ca_pem)):
        cert = load_certificate(pem, str(where))
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        if end <= now:
            report.problem(
                what,
                f"the {what} in {where} expired on {when(end)}: peers and the "
                "console refuse this device",
                ENROLL_AGAIN,
            )
        elif start > now:
            report.problem(
                what,
                f"the {what} in {where} is valid only from {when(start)}: this "
                "device's clock is behind",
                "set the clock (enable NTP: timedatectl set-ntp true)",
            )
        elif end - now < datetime.timedelta(days=CERT_WARNING_DAYS):
            report.warning(what, f"the {what} in {where} expires on {when(end)}", ENROLL_AGAIN)
        else:
            report.ok(what, f"valid until {when(end)}")
    return identity


def _revoked(config: Config) -> set[str]:
    """The device ids on the running node's deny-list ({} when it cannot be asked)."""
    from meshpos.node_runner import api_base
    from meshpos.trust._files import read_token

    try:
        api = LocalApi(api_base(config), read_token(config.data_dir / "api.token"))
        answer = api.request("GET", "/api/denylist", timeout=3.0)
        body = answer.json() if answer.ok else None
    except (MeshposError, OSError, ValueError):
        return set()  # the node's token or answer is unusable: the lines above say why
    entries = body.get("revoked") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        return set()
    return {str(e.get("device")) for e in entries if isinstance(e, dict)}


def _running_status(config: Config) -> dict[str, Any] | None:
    """The running node's ``/status``, or None when no node of this config answers."""
    from meshpos.node_runner import read_status

    try:
        status = read_status(config)
    except MeshposError:
        return None
    return status if status.get("node") == config.node_id else None


def _data_dir(report: Report, config: Config) -> None:
    directory = config.data_dir
    if not directory.is_dir():
        report.problem(
            "data dir",
            f"{directory} does not exist",
            "enroll this device (meshpos enroll --dir DATA_DIR/identity) or correct data_dir "
            "(a relative one in node.toml is relative to the file's directory, not the cwd)",
        )
        return
    check_writable(report, directory)


def _lock(report: Report, config: Config, status: dict[str, Any] | None) -> None:
    path = lock_path(config.db_path)
    holder = lock_holder(path)
    if holder is None:
        if status is not None:
            report.warning("lock", f"{path} is not held, yet node {config.node_id} answers")
        else:
            report.ok("lock", f"{config.db_path} is free (the node is not running)")
        return
    if status is not None:
        report.ok("lock", f"{config.db_path} is held by the running node (pid {holder})")
        return
    report.problem(
        "lock",
        f"the data dir {config.data_dir} is locked by process {holder} ({process_name(holder)}), "
        f"which is not a running node {config.node_id}: meshpos node cannot start",
        f"stop process {holder}",
    )


def _database(report: Report, config: Config, status: dict[str, Any] | None) -> None:
    db = config.db_path
    if not db.exists() or db.stat().st_size == 0:
        if (config.data_dir / "api.token").exists():
            report.problem(
                "database",
                f"{db} is missing or empty but this data dir held a database: the node refuses "
                "to start as an empty register",
                "meshpos restore --from BACKUP, or meshpos node --init-database once",
            )
        else:
            report.ok("database", f"{db} is made on the first start")
        return
    try:
        # a running node writes it: read a snapshot (WAL), never the immutable view
        version = inspect(db) if status is None else quick_check_live(db)
    except StoreError as exc:
        report.problem("database", exc.message, "meshpos restore --from BACKUP (see README)")
        return
    size = db.stat().st_size
    report.ok(
        "database",
        f"{db} is intact (schema {version} of {SCHEMA_VERSION}, {size / 1e6:,.1f} MB)",
    )


def quick_check_live(db: Path) -> int:
    """``quick_check`` of a database a running process writes, from a read-only connection that sees
    its WAL (the immutable view of :func:`~meshpos.store.schema.inspect` is for a file nobody writes)."""
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"{db}: cannot check it: {exc}") from None
    if problems != ["ok"]:
        raise StoreError(f"{db} is corrupt ({'; '.join(problems[:3])})")
    return version


def _disk(report: Report, config: Config) -> None:
    directory = config.data_dir if config.data_dir.is_dir() else Path(".")
    free = shutil.disk_usage(directory).free
    text = f"{free / 1e6:,.0f} MB free where {directory} is"
    if free < DISK_PROBLEM_BYTES:
        report.problem(
            "disk",
            f"disk full: {text} (under {DISK_PROBLEM_BYTES >> 20} MiB): sales may be refused",
            "free disk space",
        )
    elif free < DISK_WARNING_BYTES:
        report.warning("disk", f"{text} (under {DISK_WARNING_BYTES >> 20} MiB)", "free disk space")
    else:
        report.ok("disk", text)


def _ports(report: Report, config: Config, status: dict[str, Any] | None) -> None:
    if status is not None:
        report.ok("ports", "the running node holds its mesh port and its local API")
        return
    api = ("", "api_port", config.api_host, config.api_port)
    clash = apart_problem([("", "port", config.listen_host, config.port), api])
    problems = [clash] if clash else []
    for what, host, port in (
        ("listen_host/port", config.listen_host, config.port),
        ("api_host/api_port", config.api_host, config.api_port),
    ):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError as exc:
                problems.append(f"{what} {host}:{port}: {exc.strerror}")
    if problems:
        report.problem(
            "ports",
            "; ".join(problems),
            "stop the program on that port, or set another port (0: any) or a host this "
            "machine has",
        )
    else:
        report.ok("ports", f"{config.listen_host}:{config.port} and the API address are free")


async def _mdns(
    report: Report, config: Config, identity: DeviceIdentity, seconds: float
) -> dict[str, PeerAd]:
    where = ", ".join(config.interfaces)
    try:
        ca = ca_fingerprint(identity.ca_pem)
        peers, others = await browse(
            config.interfaces, identity.venue_id, config.node_id, seconds, ca
        )
    except (OSError, MeshposError) as exc:
        report.problem("mdns", f"cannot use mDNS on {where}: {exc}", "check mdns_interfaces")
        return {}
    heard = f" (also heard: {'; '.join(others[:5])})" if others else ""
    if not peers:
        report.warning(
            "mdns",
            f"no peers: mDNS on {where} shows no other device of venue {identity.venue_id} "
            f"within {seconds:g} s{heard}",
            "start the venue's other devices, check the network cable or Wi-Fi, and that the "
            "LAN passes multicast (UDP 5353)",
        )
    else:
        names = ", ".join(f"{a.node_id} ({a.role}) at {a.address}:{a.port}" for a in peers.values())
        report.ok("mdns", f"sees {names}{heard}")
    return peers


def _peer(
    report: Report,
    ad: PeerAd,
    answer: HttpAnswer,
    skews: dict[str, float],
    linked: set[str] | None,
    revoked: set[str],
) -> None:
    """Reachable over mutual TLS from here, and (``linked``: the running node's live peers) linked
    to the node: a peer the doctor reaches but the node does not points at the node or the peer;
    one on the running node's deny-list (``revoked``) is named so (it said "see both nodes' logs")."""
    name = f"peer {ad.node_id}"
    if ad.node_id in revoked and (linked is None or ad.node_id not in linked):
        report.warning(
            name,
            f"{ad.node_id} is revoked (on this venue's deny-list): this node refuses it, and it "
            f"still announces itself at {ad.address}:{ad.port}",
            f"take {ad.node_id} off the network; a device to keep enrolls again under a new id "
            "(meshpos pair --device NEW-ID)",
        )
        return
    if answer.status:
        if answer.skew_s is not None:
            skews[ad.node_id] = answer.skew_s
        where = f"reachable over mutual TLS at {ad.address}:{ad.port}"
        if linked is None or ad.node_id in linked:
            report.ok(name, where + ("" if linked is None else "; the node is linked to it"))
        else:
            report.warning(
                name,
                f"{where}, but the running node has no live link to it",
                "see both nodes' logs (refused links say why); it may have just started",
            )
        return
    report.problem(
        name,
        f"not reachable over mutual TLS at {ad.address}:{ad.port}: {answer.error}",
        "check that both devices are enrolled in this venue (same ca.pem) and not revoked",
    )


def _clock(report: Report, skews: dict[str, float]) -> None:
    if not skews:
        report.warning(
            "clock", "not compared: neither the console nor a peer answered", "enable NTP"
        )
        return
    who, skew = max(skews.items(), key=lambda item: abs(item[1]))
    text = skew_words(skew, f"{who}'s")
    others = ", ".join(f"{w} {s:+.0f} s" for w, s in sorted(skews.items()))
    fix = CLOCK_FIX
    if abs(skew) >= CLOCK_PROBLEM_S:
        report.problem("clock", f"{text} ({others}): {CLOCK_HARM}", fix)
    elif abs(skew) >= CLOCK_WARNING_S:
        report.warning("clock", f"{text} ({others})", fix)
    else:
        report.ok("clock", f"within {CLOCK_WARNING_S:g} s of {', '.join(sorted(skews))}")


def _status(report: Report, config: Config, status: dict[str, Any] | None) -> None:
    if status is None:
        report.warning(
            "status",
            f"node {config.node_id} is not running (nothing answers at {config.data_dir}/api.url)",
            "start it: meshpos node --config node.toml (or its service)",
        )
        return
    colour = str(status.get("colour", "?"))
    relay = status.get("relay") or "none"
    text = f"{colour.upper()} - {status.get('message', '')}; relay {relay}"
    if colour == "green":
        report.ok("status", text)
    else:
        report.warning("status", text, "see the other lines; the message says why")
    owed = status.get("owed") or {}
    pending = describe(owed) if isinstance(owed, dict) and any(owed.values()) else ""
    if pending:
        report.warning("pending", f"{pending} of {config.node_id} not at the console yet")
    else:
        report.ok("pending", f"nothing of {config.node_id} is missing at the console")
    if status.get("receipt_numbers_known") is False:
        report.warning(
            "receipt numbers",
            f"{config.node_id} has a new database and does not know its last receipt number: it "
            "sells once in sync with a peer or the console",
            "connect it to the venue, or meshpos node --new-receipt-series if it cannot be",
        )
    if status.get("corrupt_records"):
        report.problem(
            "records",
            f"{status['corrupt_records']} corrupt record(s) skipped by this node's reads",
            "tell support; the rest of the day works",
        )
