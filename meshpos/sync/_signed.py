"""The console's word, signed: what it holds and reports, as it said it, passed on unchanged.

docs/architecture.md (Security), docs/architecture.md (Relay and console). On the bounded topology
every node learns what the console holds (its state vector per open document) and reports (its
counts per day, register and kind) from any linked peer, so an enrolled device could tell a
register the console holds everything, and the register would say "All data is synced".
**Changed** (issue 18, signed): the console signs a *statement* of what it says of itself (venue, time, state, reports, what it cannot report; **Changed** (issue 18, closed): also of the days it closed lately, ``_closed``) with a key
whose certificate the venue CA issued for role ``console`` (``meshpos.trust.console_key``); the
statement rides in the heartbeats' ``signed`` field (:data:`SIGNED_FEATURE`), and the relay and every
node pass the same bytes on. A node checks it before it takes anything from it
(``SyncConfig.console_check``, the venue CA, role, venue, deny-list and signature; once per distinct
statement) and, when signing is on (``SyncConfig.console_signed``), takes the console's state and
reports *only* from checked statements: the unsigned fields are ignored (an N−1 relay that passes none
leaves registers "not synced": pessimistic). A statement that fails the check closes the session with
:class:`ConsoleSignatureRefused` (bad input from a peer).

Pure: the signature itself is the injected check's (``trust``); this module holds the wire shape, the
statement's decoding and the error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from meshpos.errors import RemoteProtocolError
from meshpos.model.tally import Tally
from meshpos.sync._fields import signed_json

#: a peer that announced this takes the heartbeat's ``signed`` field (the console's signed statement)
SIGNED_FEATURE = "signed1"

#: characters of a statement's body, its certificate (base64 DER) and signature (base64 DER ECDSA)
MAX_BODY = 400_000
MAX_CERT = 4_096
MAX_SIG = 200
_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
#: a statement body's time, its first field (``_bodies.statement_body``: sorted JSON)
_AT = re.compile(r'\{"at":(0|[1-9][0-9]{0,14}),')
#: the statements whose decoding a node keeps (by their bytes): the console's latest few
_KEPT = 8
#: a peer that announced this takes the heartbeat's ``tick`` field (the console's signed tick)
TICK_FEATURE = "tick1"
#: characters of a tick's body (venue, time, digest: ~150)
MAX_TICK_BODY = 400
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class ConsoleSignatureRefused(RemoteProtocolError):
    """A peer passed on a console statement that is not the venue console's, or not as it signed it."""

    code = "console_signature_refused"


@dataclass(frozen=True, slots=True)
class SignedConsole:
    """A console statement as it travels: its JSON body (ASCII), the console's certificate (base64
    DER) and the console's signature of the body (base64 DER ECDSA P-256 over SHA-256)."""

    body: str
    cert: str
    sig: str


@dataclass(frozen=True, slots=True)
class ConsoleStatement:
    """What a checked statement says (``body`` decoded)."""

    venue: str
    at: int  # milliseconds since the epoch, as the console signed it
    console: dict[str, dict[int, int]]
    reports: dict[str, Tally]
    unreported: tuple[int, str]


@dataclass(frozen=True, slots=True)
class SignedTick:
    """The console's small "I hear you" (issue 18, tick; ``_tick``): its body (sorted JSON of
    ``at``, ``of``, the digest of the full statement it stands by, and ``venue``) and its signature,
    by the key of that statement's certificate (which the node checked already: by reference)."""

    body: str
    sig: str


def statement_digest(signed: SignedConsole) -> str:
    """What a tick names a full statement by: SHA-256 over its body and certificate (hex)."""
    return hashlib.sha256(f"{signed.body}\n{signed.cert}".encode("ascii")).hexdigest()


def tick_body(venue: str, at: int, of: str) -> str:
    return json.dumps({"at": at, "of": of, "venue": venue}, separators=(",", ":"), sort_keys=True)


def decode_tick_body(body: str) -> tuple[str, int, str]:
    """A tick's venue, time (ms, the console's clock) and digest, or refused saying why."""
    raw = signed_json(body)
    if not isinstance(raw, dict) or raw.keys() != {"at", "of", "venue"}:
        raise RemoteProtocolError("console tick: body must be an object of 'at', 'of', 'venue'")
    venue, at, of = raw["venue"], raw["at"], raw["of"]
    if not isinstance(at, int) or isinstance(at, bool) or not 0 <= at < 10**15:
        raise RemoteProtocolError("console tick: 'at' is not a time in milliseconds")
    if not isinstance(of, str) or not _DIGEST.fullmatch(of):
        raise RemoteProtocolError("console tick: 'of' is not a statement's digest")
    if not isinstance(venue, str) or not 0 < len(venue) <= 80:
        raise RemoteProtocolError("console tick: 'venue' is not a venue id")
    return venue, at, of


def tick_wire(tick: SignedTick) -> dict[str, str]:
    return {"b": tick.body, "s": tick.sig}


def decode_tick(raw: Any, what: str) -> SignedTick:
    """The ``tick`` field: ``{"b": body, "s": sig}``, bounded and well formed (its body is read and
    its signature checked later, by the synchronizer, against the statement it names)."""
    if not isinstance(raw, dict) or raw.keys() != {"b", "s"}:
        raise RemoteProtocolError(f"{what}: field 'tick' must be an object with 'b', 's'")
    body, sig = raw["b"], raw["s"]
    if not isinstance(body, str) or not 0 < len(body) <= MAX_TICK_BODY or not body.isascii():
        raise RemoteProtocolError(f"{what}: field 'tick' has no usable body")
    if not isinstance(sig, str) or len(sig) > MAX_SIG or not _B64.fullmatch(sig):
        raise RemoteProtocolError(f"{what}: field 'tick' has no usable signature")
    return SignedTick(body, sig)


#: a peer that announced this takes the heartbeat's ``epoch`` field (the console's epoch word)
EPOCH_FEATURE = "epoch1"
#: characters of an epoch word's body (``{"at":…,"epoch":…,"venue":…}``: ~100)
MAX_EPOCH_BODY = 400


def epoch_body(venue: str, at: int, epoch: int) -> str:
    return json.dumps(
        {"at": at, "epoch": epoch, "venue": venue}, separators=(",", ":"), sort_keys=True
    )


def decode_epoch_body(body: str) -> tuple[str, int, int]:
    """An epoch word's venue, time (ms, the console's clock) and epoch, or refused saying why."""
    raw = signed_json(body)
    if not isinstance(raw, dict) or raw.keys() != {"at", "epoch", "venue"}:
        raise RemoteProtocolError("console epoch: body must be an object of 'at', 'epoch', 'venue'")
    venue, at, epoch = raw["venue"], raw["at"], raw["epoch"]
    for name, value in (("at", at), ("epoch", epoch)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 10**15:
            raise RemoteProtocolError(f"console epoch: {name!r} is not a time in milliseconds")
    if not isinstance(venue, str) or not 0 < len(venue) <= 80:
        raise RemoteProtocolError("console epoch: 'venue' is not a venue id")
    return venue, at, epoch


def decode_epoch(raw: Any, what: str) -> SignedConsole:
    """The ``epoch`` field: ``{"b": body, "c": cert, "s": sig}``, bounded and well formed (its
    body is read and its signature checked later, by the synchronizer: ``_epoch``)."""
    if not isinstance(raw, dict) or raw.keys() != {"b", "c", "s"}:
        raise RemoteProtocolError(f"{what}: field 'epoch' must be an object with 'b', 'c', 's'")
    part = unusable_part(raw["b"], raw["c"], raw["s"], MAX_EPOCH_BODY)
    if part is not None:
        raise RemoteProtocolError(f"{what}: field 'epoch' has no usable {part}")
    return SignedConsole(raw["b"], raw["c"], raw["s"])


#: checks the certificate and the signature of a statement (``meshpos.trust.console_key``), raising
#: ConsoleSignatureRefused saying why not
ConsoleCheck = Callable[[SignedConsole], None]
#: signs what the console says of itself (the body's fields less ``venue`` and ``at``, which it adds);
#: None when it can sign no more (its certificate expired: the console then says nothing signed)
ConsoleSigner = Callable[[dict[str, Any]], SignedConsole | None]
#: checks a tick's signature by the certificate of the (checked) statement it names, and that
#: certificate again (deny-list, validity), raising ConsoleSignatureRefused saying why not
TickCheck = Callable[[SignedTick, SignedConsole], None]
#: signs a tick naming a statement's digest (the console adds ``venue`` and ``at``); None: it cannot
TickSigner = Callable[[str], SignedTick | None]


def signed_body(signed: SignedConsole) -> dict[str, str]:
    return {"b": signed.body, "c": signed.cert, "s": signed.sig}


def unusable_part(
    body: object, cert: object, sig: object, max_body: int, *, cert_optional: bool = False
) -> str | None:
    """Which part of a signed ``{"b", "c", "s"}`` envelope is unusable ("body", "certificate",
    "signature"), or None: a bounded ASCII body, a base64 certificate and signature (checked against
    the CA later). One check for the console's statements, devices' attestations and gone notices;
    ``cert_optional``: an attestation may name its certificate by reference (``""``)."""
    if not isinstance(body, str) or not 0 < len(body) <= max_body or not body.isascii():
        return "body"
    for value, bound, name in ((cert, MAX_CERT, "certificate"), (sig, MAX_SIG, "signature")):
        if cert_optional and value == "" and name == "certificate":
            continue
        if not isinstance(value, str) or len(value) > bound or not _B64.fullmatch(value):
            return name
    return None


def decode_signed(raw: Any, what: str) -> SignedConsole:
    """The ``signed`` field: ``{"b": body, "c": cert, "s": sig}``, bounded and well formed (checked
    against the CA later, by the synchronizer)."""
    if not isinstance(raw, dict) or raw.keys() != {"b", "c", "s"}:
        raise RemoteProtocolError(f"{what}: field 'signed' must be an object with 'b', 'c', 's'")
    body, cert, sig = raw["b"], raw["c"], raw["s"]
    part = unusable_part(body, cert, sig, MAX_BODY)
    if part is not None:
        raise RemoteProtocolError(f"{what}: field 'signed' has no usable {part}")
    return SignedConsole(body, cert, sig)


def unbase64(
    value: str,
    refused: type[RemoteProtocolError] = ConsoleSignatureRefused,
    what: str = "console statement",
) -> bytes:
    """``value``'s bytes, or ``refused`` naming ``what`` (a statement's, a device's word's: each
    signed thing's refusal is its own kind of bad input)."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise refused(f"{what}: not base64") from None


class Statements:
    """The statements a node took: the decoded few it keeps by their bytes (a statement is checked
    and decoded once, however many peers pass it on), and the latest, which it passes on."""

    def __init__(self, strict: bool = False) -> None:
        #: takes the console's state and reports only from checked statements (``_passing``)
        self.strict = strict
        self.decoded: dict[SignedConsole, ConsoleStatement] = {}
        self.latest: SignedConsole | None = None
        self.latest_at = -1
        #: the console only: what it last signed, and the statement; what the statement said (the
        #: closed days too, when it had them) and when (its clock) it was signed: signed again at
        #: least every ``console_resign_s`` (issue 18, fresh)
        self.own: tuple[dict[str, Any], SignedConsole] | None = None
        self.own_said: dict[str, Any] = {}
        self.own_at = float("-inf")

    def known(self, signed: SignedConsole) -> ConsoleStatement | None:
        return self.decoded.get(signed)

    def again(self, signed: SignedConsole) -> ConsoleStatement | None:
        """What ``signed`` says, when it says what the latest said at another time (checked
        already): the latest's decoding with its time, else None. **Changed** (issue 18, fresh):
        the console signs the same words again every few seconds while nothing moves (``_fresh``),
        and decoding them cost each node ~1.7 ms a statement at 50 registers; the body is sorted
        JSON whose first field is ``at``, so the rest is compared as it came."""
        latest = self.latest
        before = None if latest is None else self.decoded.get(latest)
        if latest is None or before is None:
            return None
        now, then = _AT.match(signed.body), _AT.match(latest.body)
        if now is None or then is None or signed.body[now.end() :] != latest.body[then.end() :]:
            return None
        return replace(before, at=int(now.group(1)))

    def keep(self, signed: SignedConsole, statement: ConsoleStatement) -> bool:
        """Keep ``statement``; True if it is the latest one (it then goes on to the links)."""
        if len(self.decoded) >= _KEPT:
            del self.decoded[next(iter(self.decoded))]
        self.decoded[signed] = statement
        if statement.at > self.latest_at:
            self.latest, self.latest_at = signed, statement.at
            return True
        return False
