"""``meshpos doctor --console ...``: the checks of a device's doctor, for the console's machine.

It takes the options ``meshpos console`` takes, so an operator pastes the same line (or the service's).
A running console is asked (``/health`` on the relays' port, the admin API with its token, each venue's
status: which relay was heard when); a stopped one is checked on disk (database intact and not held by
another process, ports free), so the doctor also explains a console that does not start.
"""

from __future__ import annotations

import asyncio
import datetime
import shutil
import socket
import sqlite3
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from meshpos.doctor.node import DISK_WARNING_BYTES, quick_check_live
from meshpos.doctor.probes import check_writable, http_answer, lock_holder, process_name
from meshpos.doctor.report import Report, when
from meshpos.errors import ConfigError, MeshposError, StoreError
from meshpos.listen_check import apart_problem
from meshpos.localapi import LocalApi
from meshpos.ops.clock import CERT_WARNING_DAYS
from meshpos.store.disk import DISK_PROBLEM_BYTES
from meshpos.store.lock import lock_path


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """What ``meshpos console`` is started with (its flags)."""

    db: str
    host: str = "127.0.0.1"
    port: int = 8780
    api_port: int = 8781
    token_file: Path = Path("console-admin.token")
    tls_cert: Path | None = None
    tls_key: Path | None = None
    venues: list[Path] = field(default_factory=list)
    ca_file: Path | None = None  # what checks the API's certificate (else the system's CAs)


async def diagnose_console(settings: ConsoleSettings) -> Report:
    from meshpos.console.runner import check_host

    report = Report(f"console {settings.host}:{settings.port}, database {_shown(settings.db)}")
    try:
        check_host(settings.host)
        for name, port in (("--port", settings.port), ("--api-port", settings.api_port)):
            if not 0 <= port <= 65535:
                raise ConfigError(f"{name} {port}: must be from 0 to 65535")
        if (settings.tls_cert is None) != (settings.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together: give both or neither")
    except ConfigError as exc:
        report.problem("settings", exc.message, "correct the option it names")
        return report
    report.ok("settings", "the options are valid")
    context = _client_context(settings)
    health = await http_answer(
        settings.host, settings.port, "/health", context=context, server_hostname=settings.host
    )
    running = health.status in (200, 503)  # 503: it runs and its database refuses writes
    _certificate(report, settings)
    await _database(report, settings, running)
    _ports(report, settings, running)
    if health.status == 503:
        report.problem(
            "status",
            f"the console answers on {settings.host}:{settings.port}, but: {health.body.strip()}",
            "free disk space where its database is, or start its database server",
        )
    if running:
        if health.status == 200:
            report.ok("status", f"the console answers on {settings.host}:{settings.port}")
        await asyncio.to_thread(_api, report, settings)
    else:
        reason = health.error or f"HTTP {health.status}"
        report.warning(
            "status",
            f"no console answers on {settings.host}:{settings.port} ({reason})",
            "start it: meshpos console ... (or its service)",
        )
        _token_file(report, settings)
        _venue_dirs(report, settings)
    report.ok("clock", "registers compare their clocks with this console (meshpos doctor --config)")
    return report


def _shown(url: str) -> str:
    from meshpos.console.dburl import redact

    return redact(url)


def _client_context(settings: ConsoleSettings) -> ssl.SSLContext | None:
    """Our own console on this machine: its TLS is looked at by the certificate check, not here."""
    if settings.tls_cert is None:
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _certificate(report: Report, settings: ConsoleSettings) -> None:
    if settings.tls_cert is None:
        report.ok("certificate", "none: relays dial ws:// (a trusted LAN or a TLS proxy)")
        return
    try:
        cert = x509.load_pem_x509_certificate(settings.tls_cert.read_bytes())
    except (OSError, ValueError) as exc:
        report.problem(
            "certificate", f"{settings.tls_cert}: not a readable PEM certificate ({exc})"
        )
        return
    now = datetime.datetime.now(datetime.UTC)
    end = cert.not_valid_after_utc
    fix = "renew the certificate (--tls-cert/--tls-key)"
    if end <= now:
        report.problem(
            "certificate",
            f"{settings.tls_cert} expired on {when(end)}: relays refuse the console",
            fix,
        )
    elif cert.not_valid_before_utc > now:
        report.problem(
            "certificate",
            f"{settings.tls_cert} is valid only from {when(cert.not_valid_before_utc)}",
            "set this machine's clock (enable NTP)",
        )
    elif end - now < datetime.timedelta(days=CERT_WARNING_DAYS):
        report.warning("certificate", f"{settings.tls_cert} expires on {when(end)}", fix)
    else:
        report.ok("certificate", f"{settings.tls_cert} is valid until {when(end)}")


async def _database(report: Report, settings: ConsoleSettings, running: bool) -> None:
    from meshpos.console.dburl import sqlite_path

    scheme = settings.db.split(":", 1)[0].lower()
    if scheme in ("postgresql", "postgres"):
        if running:
            report.ok("database", f"{_shown(settings.db)}: in use by the running console")
            return
        from meshpos.console.db import open_console_db

        try:
            db = await open_console_db(settings.db)
            await db.close()
        except MeshposError as exc:
            report.problem("database", exc.message, "check the PostgreSQL server and the URL")
            return
        report.ok("database", f"{_shown(settings.db)} opens")
        return
    try:
        path = sqlite_path(settings.db)
    except ConfigError as exc:
        report.problem("database", exc.message)
        return
    directory = path.parent if str(path.parent) else Path(".")
    check_writable(report, directory)
    holder = lock_holder(lock_path(path))
    if holder is not None and not running:
        report.problem(
            "lock",
            f"{path} is held by process {holder} ({process_name(holder)}), which is not a console "
            "answering on this port: meshpos console cannot start",
            f"stop process {holder}",
        )
    elif holder is not None:
        report.ok("lock", f"{path} is held by the running console (pid {holder})")
    else:
        report.ok("lock", f"{path} is free")
    if path.exists() and path.stat().st_size:
        try:
            await asyncio.to_thread(quick_check_live if running else _intact, path)
        except StoreError as exc:
            report.problem("database", exc.message, "restore the console's database from a backup")
        else:
            report.ok("database", f"{path} is intact ({path.stat().st_size / 1e6:,.1f} MB)")
    else:
        report.ok("database", f"{path} is made on the first start")
    free = shutil.disk_usage(directory).free
    text = f"{free / 1e6:,.0f} MB free where {path} is"
    if free < DISK_PROBLEM_BYTES:
        report.problem("disk", f"disk full: {text}", "free disk space")
    elif free < DISK_WARNING_BYTES:
        report.warning("disk", text, "free disk space")
    else:
        report.ok("disk", text)


def _intact(path: Path) -> None:
    from meshpos.store.schema import inspect_sqlite_file

    def check(conn: sqlite3.Connection) -> int:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise StoreError(f"{path} is corrupt ({'; '.join(problems[:3])})")
        return 1

    inspect_sqlite_file(path, check)


def _ports(report: Report, settings: ConsoleSettings, running: bool) -> None:
    if running:
        report.ok("ports", f"the running console holds {settings.port} (and its API)")
        return
    host = settings.host
    clash = apart_problem(
        [("", "--port", host, settings.port), ("", "--api-port", host, settings.api_port)]
    )
    taken = [clash] if clash else []
    for port in (settings.port, settings.api_port):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((settings.host, port))
            except OSError as exc:
                taken.append(f"{settings.host}:{port}: {exc.strerror}")
    if taken:
        report.problem("ports", "; ".join(taken), "stop the program on that port or pick another")
    else:
        report.ok("ports", f"{settings.port} and {settings.api_port} are free")


def _token_file(report: Report, settings: ConsoleSettings) -> None:
    from meshpos.trust._files import read_token  # checks the file as the console does

    if not settings.token_file.exists():
        report.ok("admin token", f"{settings.token_file} is made on the first start")
        return
    try:
        read_token(settings.token_file)
    except MeshposError as exc:
        report.problem(
            "admin token", exc.message, f"delete {settings.token_file} to have a new one"
        )
        return
    report.ok("admin token", f"{settings.token_file} is well formed")


def _venue_dirs(report: Report, settings: ConsoleSettings) -> None:
    from meshpos.trust import load_venue

    for directory in settings.venues:
        try:
            authority = load_venue(directory)
        except MeshposError as exc:
            report.problem(f"venue {directory}", exc.message)
            continue
        report.ok(f"venue {authority.venue_id}", f"{directory} is a complete venue directory")
        _signing_key(report, directory, authority.venue_id)


def _signing_key(report: Report, directory: Path, venue_id: str) -> None:
    """The console's signing key of the venue: ending within 30 days or ended is a warning or a
    problem here too (the twenty-second session: only the console's log said it)."""
    from meshpos.trust.console_key import load_console_signing, signing_state

    try:
        signing = load_console_signing(directory, venue_id)
    except MeshposError as exc:
        report.problem(f"signing key {venue_id}", exc.message)
        return
    now = datetime.datetime.now(datetime.UTC)
    state = signing_state(signing, now, str(directory))
    if state["state"] == "valid":
        report.ok(f"signing key {venue_id}", f"valid until {state['ends']}")
    elif state["state"] == "ending":
        report.warning(f"signing key {venue_id}", str(state["says"]))
    else:
        report.problem(f"signing key {venue_id}", str(state["says"]))


def _api(report: Report, settings: ConsoleSettings) -> None:
    from meshpos.trust._files import read_token  # checks the file as the console does

    scheme = "https" if settings.tls_cert is not None else "http"
    try:
        token = read_token(settings.token_file)
    except MeshposError as exc:
        report.problem("admin token", exc.message)
        return
    api = LocalApi(
        f"{scheme}://{settings.host}:{settings.api_port}", token, cafile=settings.ca_file
    )
    answer = api.request("GET", "/api/venues", timeout=5)
    if answer.status in (401, 403):
        report.problem(
            "admin token",
            f"the console refuses the admin token in {settings.token_file}",
            "give the --token-file the console was started with",
        )
        return
    if answer.status == 0:
        hint = " (give --ca-file: the CA that signed --tls-cert)" if settings.tls_cert else ""
        report.problem(
            "api", f"the API on port {settings.api_port} does not answer: {answer.body}{hint}"
        )
        return
    if not answer.ok:
        report.problem("api", f"the API on port {settings.api_port} answers HTTP {answer.status}")
        return
    report.ok("admin token", f"the API on port {settings.api_port} accepts {settings.token_file}")
    venues = answer.json() or []
    for venue in venues:
        venue_id = venue if isinstance(venue, str) else str(venue.get("id", venue))
        status = api.request("GET", f"/api/venues/{venue_id}/status", timeout=10)
        if not status.ok:
            report.problem(f"venue {venue_id}", f"its status answers HTTP {status.status}")
            continue
        body = status.json()
        seen = body.get("last_seen_s") or {}
        unreported = body.get("not_materialised") or {}
        count = unreported.get("count", 0) if isinstance(unreported, dict) else 0
        relays = ", ".join(f"{n} {s:g} s ago" for n, s in sorted(seen.items())) or "none now"
        if count:
            report.problem(
                f"venue {venue_id}",
                f"{count} record(s) not in the reports; relays heard: {relays}",
                "see the venue's status page",
            )
        elif not seen:
            report.warning(
                f"venue {venue_id}",
                "no relay is linked to this console process now",
                "run meshpos doctor on the venue's registers",
            )
        else:
            report.ok(f"venue {venue_id}", f"relays heard: {relays}")
