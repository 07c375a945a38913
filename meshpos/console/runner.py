"""``meshpos console``: serve relays and the JSON API until a signal; register venues.

**Changed** (the twenty-third session, part ``outside``): a venue id is held with the venue CA it was
first registered with (schema 10, ``venues.venue_ca``: a database from before learns it at its next
start with the directory); a directory of another CA with that id is refused at start, nothing changed.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import json
import logging
import math
import ssl
import sys
from pathlib import Path

from meshpos.console.db import ConsoleDB, open_console_db
from meshpos.console.epoch_marks import MARKS_FILE, EpochMarks
from meshpos.console.tokens import hash_token, same_hash
from meshpos.errors import ConfigError
from meshpos.listen_check import bind_problem, machine_addresses
from meshpos.stop_signals import stop_on_signal
from meshpos.trust import stored_token
from meshpos.trust.certs import ca_fingerprint
from meshpos.trust.console_key import ConsoleSigning
from meshpos.trust.relay_proof import RelayAdmission, RevokedFile

log = logging.getLogger("meshpos.console")


def load_signers(venue_dirs: list[Path]) -> dict[str, ConsoleSigning | None]:
    """Venue id -> the console's signing key read from each venue directory given (None: it has
    none, a venue made before console keys; Security: its statements are signed). A key every node
    would refuse is a :class:`TrustError` here, before anything is registered or served
    (``load_console_signing``)."""
    from meshpos.trust import load_venue
    from meshpos.trust.console_key import load_console_signing

    signers: dict[str, ConsoleSigning | None] = {}
    first: dict[str, Path] = {}
    for directory in venue_dirs:
        venue_id = load_venue(directory).venue_id
        if venue_id in first:  # the second's registration failed after the first's was written
            raise ConfigError(
                f"--venue {directory}: venue {venue_id} is given twice (--venue {first[venue_id]} "
                "too); give each venue once"
            )
        first[venue_id] = directory
        signers[venue_id] = load_console_signing(directory, venue_id)
    return signers


def relay_admissions(venue_dirs: list[Path]) -> dict[str, RelayAdmission]:
    """Venue id -> the check of its relays' devices against its authority's revocations (stat'ed at
    each check, parsed when changed: ``meshpos revoke`` counts from the relay's next probe or dial)."""
    from meshpos.trust import load_venue
    from meshpos.trust.authority import REVOKED

    admissions = {}
    for directory in venue_dirs:
        authority = load_venue(directory)
        revoked = RevokedFile(authority.directory / REVOKED, authority.revoked)
        admissions[authority.venue_id] = RelayAdmission(
            authority.venue_id,
            authority.ca_pem,
            revoked,
            secret=authority.derived_secret("relay nonce"),
        )
    return admissions


def say_unsigned(registered: list[str], signers: dict[str, ConsoleSigning | None]) -> None:
    """At start, the venues whose console word goes unsigned: their registers cannot tell it from an
    enrolled device's, and strict ones (all that have seen a signed statement) show their data "not
    at the console" for ever, which nothing else would explain. A registered venue whose directory
    was not given (the key is read from there, never stored in the database) is a warning: a console
    restarted without its ``--venue DIR`` signed nothing for it, silently. A venue given without a
    key (made before console keys) is said at info level, with how to make one."""
    missing = [venue_id for venue_id in registered if venue_id not in signers]
    if missing:
        log.warning(
            "%d registered venue(s) served without their directory: %s; the console signs nothing "
            "for them, and their registers that have seen a signed statement show their data not "
            "at the console: start the console with --venue DIR for each (the directory holding "
            "console.key)",
            len(missing),
            _some(missing),
        )
        # (issue 18, admit) and the console holds neither their CA nor their revoked.json: their
        # relays come in by the token alone, a revoked (stolen) register's too
        log.warning(
            "%d registered venue(s) admit their relays BY THE TOKEN ALONE: %s; this console cannot "
            "check which device relays, so a revoked register that kept the token uploads into the "
            "reports: start the console with --venue DIR for each (the directory holding ca.pem and "
            "revoked.json)",
            len(missing),
            _some(missing),
        )
    keyless = [venue_id for venue_id, signing in signers.items() if signing is None]
    if keyless:
        log.info(
            "venue(s) without a console key: %s; their statements go unsigned (make a key with "
            "'meshpos venue console-key --dir DIR')",
            _some(keyless),
        )


def _some(venue_ids: list[str]) -> str:
    more = len(venue_ids) - 5
    return ", ".join(venue_ids[:5]) + (f" and {more} more" if more > 0 else "")


async def register_venues(db: ConsoleDB, venue_dirs: list[Path]) -> list[str]:
    """Add each venue directory's id, name and console token (idempotent)."""
    from meshpos.trust import load_venue

    known = set(await db.venues())
    added = []
    for directory in venue_dirs:
        authority = load_venue(directory)
        token_hash = hash_token(authority.console_token)
        venue_ca = ca_fingerprint(authority.ca_pem)
        if authority.venue_id not in known:
            await db.add_venue(authority.venue_id, authority.name, token_hash)
            await db.learn_venue_ca(authority.venue_id, venue_ca)
            added.append(authority.venue_id)
            log.info("venue %s (%s) registered", authority.venue_id, authority.name)
            continue
        # before the token: another venue's directory must change nothing here
        held = await db.learn_venue_ca(authority.venue_id, venue_ca)
        if held != venue_ca:
            raise ConfigError(
                await _another_venue(db, authority.venue_id, directory, authority.name)
            )
        if not same_hash(await db.token_hash_of(authority.venue_id) or "", token_hash):
            # the directory is the venue's authority: a token replaced there (a register was
            # stolen: meshpos venue console-token --new) was ignored, the old one worked for ever
            await db.replace_token(authority.venue_id, token_hash)
            log.warning(
                "venue %s: the console token changed in %s; the old token is refused from now on",
                authority.venue_id,
                directory,
            )
    return added


async def _another_venue(db: ConsoleDB, venue_id: str, directory: Path, name: str) -> str:
    """Why a directory of another venue CA with a held venue's id is refused: each shop that ran
    README's ``venue init --venue-id cafe-central`` has that id, and the console knew a venue by it
    alone (outside, tenth round): it served the second shop the first's catalog and staff, and took
    its receipts into the first's reports."""
    held = (await db.venue_names()).get(venue_id, "?")
    return (
        f"--venue {directory}: venue {venue_id!r} ({name!r}) is another venue than the "
        f"{venue_id!r} this database holds ({held!r}, made by another venue CA): two venues "
        "were made with one --venue-id; give this one a database of its own, or make it anew "
        "with another id (meshpos venue init --venue-id ...; its devices enroll again); "
        "nothing was changed"
    )


#: the read-only token of GET /metrics, beside the admin token unless --metrics-token-file says where
METRICS_TOKEN_FILE = "console-metrics.token"
EVERY_ADDRESS = ("0.0.0.0", "::")  # --host values that listen on every address of the machine


def check_host(host: str) -> str:
    """``--host``: an IP address of this machine, or 0.0.0.0 / :: for all of them.

    A console on a venue's back-office PC binds that PC's LAN address so the registers' relay and the
    manager's browser reach it; an address the machine does not have could never be served, so it is
    refused at start with the addresses the machine has. The kernel is the judge (a test bind of a
    socket to the address), since it knows every address, the whole 127.0.0.0/8 block included,
    while a list of interfaces would miss those."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ConfigError(
            f"--host {host!r}: not an IP address; give one of this machine's addresses "
            f"({', '.join(machine_addresses())}) or 0.0.0.0 for all of them"
        ) from None
    if str(address) in EVERY_ADDRESS:
        return str(address)
    exc = bind_problem(str(address), 0)  # (the same test bind as the ports' check)
    if exc is not None and exc.errno != errno.EADDRNOTAVAIL:
        raise ConfigError(f"--host {host!r}: cannot listen there ({exc.strerror})")
    if exc is not None:
        raise ConfigError(
            f"--host {host!r}: not an address of this machine; its addresses are "
            f"{', '.join(machine_addresses())} (or 0.0.0.0 for all of them)"
        )
    return str(address)


def server_ssl_context(cert_file: Path | None, key_file: Path | None) -> ssl.SSLContext | None:
    """The console's TLS context from a PEM certificate (chain) and its key, or None for plain ws/http.

    Raises ConfigError naming the file when one is missing, unreadable, or the key does not match."""
    if cert_file is None and key_file is None:
        return None
    if cert_file is None or key_file is None:
        raise ConfigError("--tls-cert and --tls-key go together: give both or neither")
    for flag, path in (("--tls-cert", cert_file), ("--tls-key", key_file)):
        if not path.is_file():
            raise ConfigError(f"{flag} {str(path)!r}: no such file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(
            f"--tls-cert {str(cert_file)!r} / --tls-key {str(key_file)!r}: not a PEM certificate "
            f"and its matching unencrypted key ({exc})"
        ) from None
    return context


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def serve_console(
    *,
    db_url: str,
    host: str,
    port: int,
    api_port: int,
    venues: list[Path],
    token_file: Path,
    metrics_token_file: Path | None = None,
    heartbeat_interval: float = 1.0,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    venue_idle_seconds: float | None = None,
    init_database: bool = False,
) -> int:
    """With ``tls_cert`` and ``tls_key`` both ports serve TLS: relays dial ``wss://``, people and scripts
    use ``https://``. ``metrics_token_file`` (default: ``console-metrics.token`` beside the admin
    token) holds the read-only token of ``GET /metrics``, made on first start like the admin token."""
    from meshpos.console.api import make_console_handler
    from meshpos.console.server import VENUE_IDLE_S, ConsoleServer
    from meshpos.engine.memory import tune_allocator
    from meshpos.httpapi.server import HttpServer

    tune_allocator()  # before the venues' first big block (engine/memory.py)

    host = check_host(host)
    token_path = str(token_file)  # printed at start: where to find the admin token (cli: absolute)
    idle = VENUE_IDLE_S if venue_idle_seconds is None else venue_idle_seconds
    if not 0 < idle < math.inf:
        raise ConfigError(
            f"--venue-idle-seconds {idle!r}: must be a finite number of seconds above 0"
        )
    tls = server_ssl_context(tls_cert, tls_key)  # before anything opens: a bad file is one line
    signers = load_signers(venues)  # a bad key (or a venue given twice) before the database opens
    token = stored_token(token_file)
    metrics_file = metrics_token_file or token_file.parent / METRICS_TOKEN_FILE
    metrics_token = stored_token(metrics_file)
    if same_hash(metrics_token, token):
        raise ConfigError(  # it started and said the scraper's token "reads GET /metrics only"
            f"{metrics_file}: the metrics token is the admin token (--token-file {token_file}): a "
            "scraper holding it could do everything the admin can; give --metrics-token-file a "
            "file of its own (a missing one is made)"
        )
    marks = EpochMarks(token_file.parent / MARKS_FILE)  # (a bad file: one line, nothing opened)
    db = await open_console_db(db_url, init_database=init_database)  # (db_sqlite._check_begun)
    db.marks = marks  # a database gone backwards gets a new epoch at each venue's load
    try:
        await register_venues(db, venues)
        say_unsigned(await db.venues(), signers)
        server = ConsoleServer(
            db,
            host,
            port,
            heartbeat_interval=heartbeat_interval,
            ssl_context=tls,
            venue_idle_seconds=idle,
            signers={venue_id: s for venue_id, s in signers.items() if s is not None},
            admissions=relay_admissions(venues),
        )
        await server.start()
        handler = make_console_handler(server, token, metrics_token)
        api = HttpServer(handler, host, api_port, ssl_context=tls, what="the console's API")
        await api.start()
        stop = asyncio.Event()
        stop_on_signal(stop)  # (a second signal while it stops: ignored, ``meshpos.stop_signals``)
        pages = f"{'https' if tls else 'http'}://{_url_host(host)}:{api.port}"
        print(
            json.dumps(
                {
                    "console": server.url,
                    "api": pages,
                    "token_file": token_path,
                    "metrics_token_file": str(metrics_file),
                    "ready": True,
                }
            ),
            flush=True,
        )
        where = f"{pages}/"
        if host in EVERY_ADDRESS:  # a browser cannot open 0.0.0.0: name the machine's addresses
            family = [a for a in machine_addresses() if (":" in a) == (":" in host) or host == "::"]
            where += f" (on every address of this machine: {', '.join(family)})"
        print(
            f"console pages at {where} : sign in with the admin token kept in "
            f"{token_path} (readable by its owner only); a metrics scraper sends the token in "
            f"{metrics_file}, which reads GET /metrics only",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()
        await api.stop()
        await server.stop()
        await db.settle_marks()  # (nothing appends now: a restart signs the same epoch)
    finally:
        await db.close()
    return 0
