"""Console statements from a hostile ENROLLED device (issue 18, outside: sync/_signed.py,
sync/_passing.py, sync/_bodies.py). Whatever it puts in a heartbeat's ``signed`` field, or in a body
the console's own key signed, the statement is refused by name (``RemoteProtocolError`` on decoding,
``ConsoleSignatureRefused`` on checking), the beat takes nothing (not its sender's presence nor its
attestations), and the work is bounded: one check per session, which the refusal closes."""

from __future__ import annotations

import base64
import json
import random
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from meshpos.errors import RemoteProtocolError
from meshpos.sync import (
    ConsoleSignatureRefused,
    PeerClosed,
    SignedConsole,
    SyncEvent,
    Synchronizer,
)
from meshpos.sync._bodies import decode_heartbeat, heartbeat_body
from meshpos.sync._messages import Heartbeat
from meshpos.sync._session import Session
from meshpos.sync._signed import MAX_BODY
from meshpos.sync.memory import MemoryNetwork
from meshpos.trust import init_venue
from meshpos.trust.console_key import _DOMAIN, ConsoleChecker, ConsoleSigning, issue_console_key
from meshpos.trust.console_key import load_console_signing as _load

from .test_sync_console_signed import VENUE_ID, _other_console_key, node, sell
from .test_sync_topology import DOC

Keys = tuple[str, ConsoleSigning, str]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """(the venue CA, its console's signing key, a register's genuine certificate, base64 DER)"""
    directory = tmp_path_factory.mktemp("venue") / "venue"
    authority = init_venue(directory, "Cafe", VENUE_ID)
    issue_console_key(authority)
    signing = _load(directory, VENUE_ID)
    assert signing is not None
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from meshpos.trust.certs import new_private_key

    public = (
        new_private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    device = x509.load_pem_x509_certificate(authority.issue(public, "R9", "register").encode())
    device_der = base64.b64encode(device.public_bytes(serialization.Encoding.DER)).decode()
    return authority.ca_pem, signing, device_der


def _signed_by_console(signing: ConsoleSigning, body: str) -> SignedConsole:
    """``body`` as it is, signed with the console's real key (what the console never signs)."""
    sig = signing._key.sign(_DOMAIN + body.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    return SignedConsole(body, signing._cert, base64.b64encode(sig).decode())


def _json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True)


_BASE: dict[str, Any] = {"venue": VENUE_ID, "at": 1, "console": {DOC: {}}, "reports": {}}
_JUNK: list[object] = ["1", 1.5, -1, 2**64, None, True, [], {}, [[[]]], {"a": {"b": {}}}, "\ud800"]
_BODIES: dict[str, str] = {
    f"{field}={value!r:.12}": _json({**_BASE, field: value})
    for field in ("venue", "at", "console", "reports", "unreported")
    for value in _JUNK
    if not (field in ("console", "reports") and value == {})
} | {
    "doc surrogate": _json({**_BASE, "console": {"\ud800": {}}}),
    "doc not a day": _json({**_BASE, "console": {"ledger/2026-13-45": {}}}),
    "client negative": _json({**_BASE, "console": {DOC: {"-1": 5}}}),
    "client arabic digit": _json({**_BASE, "console": {DOC: {"\u0661": 5}}}),
    "client huge": _json({**_BASE, "console": {DOC: {"99999999999999999": 5}}}),
    "clock string": _json({**_BASE, "console": {DOC: {"12": "5"}}}),
    "clock float": _json({**_BASE, "console": {DOC: {"12": 5.0}}}),
    "clock huge": _json({**_BASE, "console": {DOC: {"12": 2**70}}}),
    "register surrogate": _json({**_BASE, "reports": {DOC: {"\udc80": {"receipts": 1}}}}),
    "register non-ascii": _json({**_BASE, "reports": {DOC: {"R\u00e9": {"receipts": 1}}}}),
    "kind unknown": _json({**_BASE, "reports": {DOC: {"R2": {"bogus": 1}}}}),
    "count string": _json({**_BASE, "reports": {DOC: {"R2": {"receipts": "1"}}}}),
    "count negative": _json({**_BASE, "reports": {DOC: {"R2": {"receipts": -1}}}}),
    "count 1e3": _json({**_BASE, "reports": {DOC: {"R2": {"receipts": 1e3}}}}),
    "reports not a ledger": _json({**_BASE, "reports": {"catalog": {"R2": {"receipts": 1}}}}),
    "reason control": _json({**_BASE, "unreported": {"count": 1, "reason": "a\u0000b"}}),
    "reason surrogate": _json({**_BASE, "unreported": {"count": 1, "reason": "a\ud800"}}),
    "unreported count 0": _json({**_BASE, "unreported": {"count": 0, "reason": "x"}}),
    "unknown field": _json({**_BASE, "closed": {}}),
    "missing field": _json({"venue": VENUE_ID, "at": 1, "console": {}}),
    "duplicate key": '{"venue":"v","venue":"v","at":1,"console":{},"reports":{}}',
    "NaN": _json(_BASE).replace('"at":1', '"at":NaN'),
    "5000 digits": _json(_BASE).replace('"at":1', '"at":' + "9" * 5000),
    "1e999": _json(_BASE).replace('"at":1', '"at":1e999'),
    "nested 100000": _json(_BASE).replace('"reports":{}', '"reports":' + "[" * 100_000),
    "not an object": "[1,2]",
    "trailing junk": _json(_BASE) + "x",
    "another venue": _json({**_BASE, "venue": "w"}),
}


def _beat(signed: SignedConsole, **changes: Any) -> Heartbeat:
    return replace(Heartbeat("R9", "register", 1, True, True, 5, {}, {}, signed=signed), **changes)


def _refused_and_nothing_taken(
    register: Synchronizer, beat: Heartbeat, error: type[Exception] = RemoteProtocolError
) -> None:
    """``beat`` goes over the wire to ``register``: refused by name, and nothing of it is taken."""
    before = register.status_version
    with pytest.raises(error):  # (ConsoleSignatureRefused is a RemoteProtocolError)
        register._on_heartbeat(decode_heartbeat(heartbeat_body(beat)))
    assert register.status_version == before
    assert register.console_state(DOC) == {}
    assert register.console_reports(DOC) == {}
    assert register.console_report == (0, "")
    assert register.held_beyond(DOC) == {}
    assert register.pending(DOC) > 0
    assert not register.statements.decoded


@pytest.mark.parametrize("name", list(_BODIES))
def test_a_body_the_console_s_key_signed_but_malformed_is_refused_and_takes_nothing(
    keys: Keys, name: str
) -> None:
    """Even past the signature (as if the console's key signed junk) the decoder refuses by name;
    the beat carrying it takes nothing, not even its attestation that it holds the sale. Fails
    before for every case: the beat's presence and attestation were taken before the check (the
    durability count moved)."""
    ca, signing, _ = keys
    register = node("R2", "register", ca)
    sold = sell(register)
    signed = _signed_by_console(signing, _BODIES[name])
    _refused_and_nothing_taken(
        register, _beat(signed, held={"R9": {DOC: sold}}), ConsoleSignatureRefused
    )


def _garbage_signed(keys: Keys) -> dict[str, SignedConsole]:
    _, signing, device_der = keys
    genuine = signing({"console": {DOC: {}}, "reports": {}})
    assert genuine is not None
    other = ConsoleSigning("w", *_other_console_key())({"console": {DOC: {}}, "reports": {}})
    assert other is not None
    pem = "-----BEGIN CERTIFICATE-----" + genuine.cert + "-----END CERTIFICATE-----"
    return {
        "cert pem": replace(genuine, cert=pem),
        "cert garbage der": replace(genuine, cert=base64.b64encode(b"\x30\x03junk").decode()),
        "cert not base64 length": replace(genuine, cert=genuine.cert[:-2]),
        "cert of a device": replace(genuine, cert=device_der),
        "cert of another venue": replace(genuine, cert=other.cert),
        "another venue's statement": other,
        "sig of another body": replace(genuine, sig=other.sig),
        "sig garbage": replace(genuine, sig=base64.b64encode(b"\x30" * 70).decode()),
        "sig empty-ish": replace(genuine, sig="AA=="),
        "body non-ascii": replace(genuine, body=genuine.body.replace("{}", '{"\u00e9":1}', 1)),
        "body over the limit": replace(genuine, body=" " * (MAX_BODY + 1)),
        "body at the limit": replace(genuine, body=genuine.body.ljust(MAX_BODY)),
        "cert over the limit": replace(genuine, cert="A" * 4100),
        "sig over the limit": replace(genuine, sig="A" * 204),
    }


_GARBAGE = [
    "cert pem",
    "cert garbage der",
    "cert not base64 length",
    "cert of a device",
    "cert of another venue",
    "another venue's statement",
    "sig of another body",
    "sig garbage",
    "sig empty-ish",
    "body non-ascii",
    "body over the limit",
    "body at the limit",
    "cert over the limit",
    "sig over the limit",
]


@pytest.mark.parametrize("name", _GARBAGE)
def test_a_statement_that_is_not_the_console_s_is_refused_and_takes_nothing(
    keys: Keys, name: str
) -> None:
    """Certificates that are a device's, another venue's, a PEM or junk; signatures of another body
    or junk; bodies over the limit or not ASCII: each refused by name (on decoding the beat, or on
    checking: a body at the limit is carried, and fails the signature), nothing taken."""
    ca, _, _ = keys
    register = node("R2", "register", ca)
    sold = sell(register)
    _refused_and_nothing_taken(
        register, _beat(_garbage_signed(keys)[name], held={"R9": {DOC: sold}})
    )


@pytest.mark.parametrize(
    "raw",
    [None, "x", 1, [], {}, {"b": "x", "c": "x"}, {"b": 1, "c": "QQ==", "s": "QQ=="},
     {"b": "x", "c": ["QQ=="], "s": "QQ=="}, {"b": "x", "c": "QQ==", "s": None},
     {"b": "", "c": "QQ==", "s": "QQ=="}, {"b": "x", "c": "QQ==", "s": "QQ==", "d": 1},
     {"b": "x", "c": "Q\u00e9==", "s": "QQ=="}],
)  # fmt: skip
def test_a_signed_field_of_the_wrong_shape_is_refused_on_decoding(keys: Keys, raw: object) -> None:
    _, signing, _ = keys
    genuine = signing({"console": {DOC: {}}, "reports": {}})
    assert genuine is not None
    body = json.loads(heartbeat_body(_beat(genuine)))
    body["signed"] = raw
    with pytest.raises(RemoteProtocolError, match="signed"):
        decode_heartbeat(json.dumps(body).encode())


def test_a_genuine_old_statement_replayed_lowers_nothing_and_is_not_passed_on(keys: Keys) -> None:
    """The console's real statement of earlier (it held nothing of R2's yet) after its newer one:
    checked and kept (it is the console's), but what the node takes only rises, and the node keeps
    passing on the newer one."""
    ca, signing, _ = keys
    register = node("R2", "register", ca)
    sold = sell(register)
    old = signing({"console": {DOC: {}}, "reports": {}, "unreported": (2, "two bad records")})
    assert old is not None
    new = signing({"console": {DOC: sold}, "reports": {DOC: {"R2": {"receipts": 1}}}})
    assert new is not None
    assert json.loads(new.body)["at"] >= json.loads(old.body)["at"]
    register._on_heartbeat(_beat(new))
    register._on_heartbeat(_beat(old, seq=6))
    assert register.console_state(DOC) == sold
    assert register.console_reports(DOC) == {"R2": {"receipts": 1}}
    assert register.pending(DOC) == 0
    assert register.statements.latest is new
    assert register.console_report == (0, "")  # the old statement's word is not the latest


def test_a_flood_of_distinct_bad_statements_costs_one_check_per_session(keys: Keys) -> None:
    """On the in-memory network (which redials at once after a close): a device sending 20
    distinct forged statements in every beat has each session closed at its first, so the
    honest nodes check at most one statement per session it opens, and take nothing."""
    ca, signing, _ = keys
    signed = signing({"console": {DOC: {}}, "reports": {}})
    assert signed is not None
    genuine: SignedConsole = signed  # (the class below sees it so)
    counter = iter(range(10**9))

    class Flooder(Synchronizer):
        def _send_beats(self) -> None:
            beat = self._heartbeat()
            for session in self._exchanging():
                for _ in range(20):
                    body = genuine.body.replace('"reports"', f'"x{next(counter)}":0,"reports"')
                    session.send(replace(self._addressed(beat, session), signed=replace(
                        genuine, body=body)))  # fmt: skip

    events: list[tuple[str, SyncEvent]] = []
    net = MemoryNetwork(random.Random(5), listener=lambda n, e: events.append((n, e)))
    checks: dict[str, int] = {}
    for name in ("R1", "R2"):
        honest = node(name, "register", ca)
        real = honest.config.console_check
        assert real is not None

        def counted(signed: SignedConsole, name: str = name, real: Any = real) -> None:
            checks[name] = checks.get(name, 0) + 1
            real(signed)

        honest.config = replace(honest.config, console_check=counted)
        net.add(honest)
    flooder = Flooder(
        venue=VENUE_ID, node_id="R9", role="register", client_id=99, config=net.nodes["R1"].config
    )
    flooder.open_doc(DOC)
    net.add(flooder)
    net.advance(3.0, step=0.05)
    for name in ("R1", "R2"):
        closed = sum(
            1
            for n, e in events
            if n == name
            and isinstance(e, PeerClosed)
            and e.node == "R9"
            and isinstance(e.error, ConsoleSignatureRefused)
        )
        assert closed >= 1
        assert checks.get(name, 0) <= closed
        assert net.nodes[name].console_state(DOC) == {}
        assert not net.nodes[name].statements.decoded
    assert next(counter) >= 40  # it did send many


def test_a_statement_revoked_since_it_was_taken_is_not_passed_on(keys: Keys) -> None:
    """``meshpos revoke console`` after a node took the console's statement: the node no longer
    passes it on, so a peer that checks it (a fresh one) does not close the honest link over it.
    Fails before: the node passed its latest on to every new link, and each fresh peer refused it
    (``ConsoleSignatureRefused``), closing the link again after every relink."""
    ca, signing, _ = keys
    relay, fresh = node("R1", "register", ca), node("R2", "register", ca)
    statement = signing({"console": {DOC: {}}, "reports": {}})
    assert statement is not None
    relay._on_heartbeat(_beat(statement))
    assert relay.statements.latest is not None
    for sync in (relay, fresh):
        checker = sync.config.console_check
        assert isinstance(checker, ConsoleChecker)
        checker.is_revoked = lambda device: device == "console"
    session = Session(relay.hello, peer_features=frozenset({"signed1", "topology1"}))
    session.peer = fresh.hello
    passed = relay._with_signed(relay._heartbeat(), session)
    assert passed.signed is None
    fresh._on_heartbeat(passed)  # (no refusal)
