"""A device's own word of what it holds, signed: attestations passed on as their node said them.

docs/architecture.md (Security), docs/architecture.md (Status). Attestations (``_held``) travel
towards each author along its tree, so the author counts "on k of n devices" from what its links
passed on. Unsigned, one enrolled device linked to a register could attest for any other (or an
invented) device, and the register said a sale was on 4 devices when only it held it.
**Changed** (issue 18, sign): a node signs, with its own device key (the venue CA's certificate of
that device), its attestations that go on through another node: a *word* (sorted JSON of its node
id, the venue and, per ledger document, client -> clock), signed once per distinct content (cached:
an idle venue signs nothing again), carried in the heartbeat's ``helds`` field (feature
:data:`HELD_SIGNED_FEATURE`) and passed on by every hop as the same bytes. A node checks a word
(``SyncConfig.held_check``: the venue CA, this venue, a device role, valid now, not on the deny-list,
the signature; once per distinct word) before it keeps anything of it, and the signer's certificate
must name the node the word speaks for. An attestation heard from its own node over that node's own
link (the link's certificate is the node's) needs no signature: the link is the proof.

A node that is strict (the console's word taken only signed: ``Statements.strict``) keeps only
signed or direct attestations; an N−1 peer's unsigned ones count only in a venue that is not (its
count then as before this change). A word whose signature fails closes the session as bad input
(:class:`HeldSignatureRefused`).

Pure: the signature is the injected signer's and check's (``meshpos.trust.device_word``).

**Changed** (nineteenth session, robust): a refusal names the kind of word it refused (:func:`word_kind`:
an attestation, a gone notice or said fields, told apart by the first key of its sorted body); the
checker said "signed attestation of ..." for every kind, so a revoked signer's gone notice read as
an attestation in the closed session's reason. The names are defined here, once (the twenty-second
session adds a stall word's, ``_stall_words``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from meshpos.digits import ascii_digits
from meshpos.errors import RemoteProtocolError
from meshpos.lib0 import MAX_VAR_UINT
from meshpos.model.documents import is_ledger, valid_document_name
from meshpos.sync._fields import _ID, signed_json
from meshpos.sync._signed import unusable_part

#: a peer that announced this takes the heartbeat's ``helds`` field (signed attestations)
HELD_SIGNED_FEATURE = "helds1"
#: words in one heartbeat (a beat carries at most ``HELD_PER_BEAT`` attestations, each of one word)
MAX_WORDS = 64
#: characters of a word's body (a node's attestations of one beat to one link: ~40 bytes each)
MAX_WORD_BODY = 16_000
#: attestations one word may hold
MAX_WORD_ENTRIES = 256

Held = dict[str, dict[int, int]]  # document -> client -> clock

#: what each kind of signed word is called in refusals (one place: the checker, the decoders)
ATTESTATION = "signed attestation"
GONE_NOTICE = "signed gone notice"
SAID_FIELDS = "signed said fields"
STALL_WORD = "signed stall word"
#: a signed body's first key (sorted JSON) -> its kind: no two kinds share a key set
_KINDS = (
    ('{"held":', ATTESTATION),
    ('{"by":', GONE_NOTICE),
    ('{"node":', SAID_FIELDS),
    ('{"after":', STALL_WORD),
)


def word_kind(body: str) -> str:
    """What a signed word is called in a refusal, read from its body's first key (before it is
    checked: a body of no known shape is a "signed word", refused later by its decoder)."""
    for start, kind in _KINDS:
        if body.startswith(start):
            return kind
    return "signed word"


def as_kind(kind: str, message: str) -> str:
    """A checker's refusal as a field of ``kind`` reports it: prefixed with the kind the field
    holds unless it names that kind already (a body of another kind's shape in that field)."""
    return message if message.startswith(kind) else f"{kind}: {message}"


class HeldSignatureRefused(RemoteProtocolError):
    """A peer passed on a device's word that is not that device's, or not as it signed it."""

    code = "held_signature_refused"


class SignerNotValidNow(HeldSignatureRefused):
    """A word whose signer is on the deny-list or whose certificate is not valid now (on this
    node's clock): refused as the word of a device, but not a forgery by the hop that passed it
    on. A word kept and passed on (``_far_signing``: said fields) was signed before its device was
    revoked, or its certificate expired since, or another device's clock differs: its takers skip
    it, where any other refusal closes the session (outside round, eighteenth session)."""


@dataclass(frozen=True, slots=True)
class SignedHeld:
    """A device's word as it travels: its body (sorted JSON, ASCII), the device's certificate
    (base64 DER; ``""`` on the wire once a link has had that device's: by reference) and its
    signature of the body (base64 DER ECDSA P-256 over SHA-256)."""

    body: str
    cert: str
    sig: str


@dataclass(frozen=True, slots=True)
class HeldWord:
    """What a word says: ``node`` holds, committed, every struct of each client below its clock."""

    node: str
    venue: str
    held: Held


#: signs a word's body with this device's key (None: it cannot sign: its word goes unsigned)
HeldSigner = Callable[[str], SignedHeld | None]
#: checks a word's certificate and signature, the signer's device id, or HeldSignatureRefused saying why
HeldCheck = Callable[[SignedHeld], str]


W = TypeVar("W")


def check_words(
    words: tuple[SignedHeld, ...],
    check: HeldCheck,
    kind: str,
    decode: Callable[[str], W],
    speaker: Callable[[W], tuple[str, str]],
    venue: str,
    refused: Callable[[str], RemoteProtocolError],
    of: str = "of",
) -> tuple[list[tuple[SignedHeld, W]], int]:
    """Each of a beat's signed words of ``kind`` checked (the venue CA, a device, valid now, not
    revoked, the signature) and decoded, and its signer the device it speaks for in this venue
    (``speaker``: the node and venue the word names, ``of`` how a refusal names it); the checked ones and how many were skipped (a
    signer revoked or not valid now: an honest hop's word from before). Any other failure raises
    ``refused`` naming the kind: the session closes as bad input. One rule for gone notices, said
    fields and stall words (``_notices``, ``_far_signing``, ``_stalls``; the twenty-second session's
    review: each had a copy)."""
    out: list[tuple[SignedHeld, W]] = []
    skipped = 0
    for signed in words:
        try:
            signer = check(signed)
        except SignerNotValidNow:
            skipped += 1
            continue
        except HeldSignatureRefused as exc:
            raise refused(as_kind(kind, exc.message)) from None
        word = decode(signed.body)
        node, said_venue = speaker(word)
        if node != signer or said_venue != venue:
            raise refused(
                f"{kind} {of} {node!r} (venue {said_venue!r:.80}) is signed by {signer!r}"
            )
        out.append((signed, word))
    return out, skipped


def word_body(node: str, venue: str, held: Held) -> str:
    """The body a node signs: the same bytes for the same content (an unchanged word is not signed
    again: ``Attesting._own_word``)."""
    return json.dumps(
        {
            "held": {
                d: {str(c): k for c, k in sorted(cs.items())} for d, cs in sorted(held.items())
            },
            "node": node,
            "venue": venue,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def decode_word(body: str) -> HeldWord:
    """A word's content, or refused saying why (read only once its signature checked)."""
    what = ATTESTATION
    raw = signed_json(body)
    if not isinstance(raw, dict) or raw.keys() != {"held", "node", "venue"}:
        raise HeldSignatureRefused(f"{what}: body must be an object of 'held', 'node', 'venue'")
    node, venue, docs = raw["node"], raw["venue"], raw["held"]
    if not isinstance(node, str) or not _ID.fullmatch(node):
        raise HeldSignatureRefused(f"{what}: 'node' is not a node id")
    if not isinstance(venue, str) or not 0 < len(venue) <= 80:
        raise HeldSignatureRefused(f"{what}: 'venue' is not a venue id")
    if not isinstance(docs, dict):
        raise HeldSignatureRefused(f"{what}: 'held' is not an object of ledger documents")
    held: Held = {}
    entries = 0
    for doc, clocks in docs.items():
        if not valid_document_name(doc) or not is_ledger(doc) or not isinstance(clocks, dict):
            raise HeldSignatureRefused(f"{what}: 'held' names no ledger {doc!r:.80}")
        entries += len(clocks)
        if entries > MAX_WORD_ENTRIES:
            raise HeldSignatureRefused(f"{what}: more than {MAX_WORD_ENTRIES} attestations")
        out = held[doc] = {}
        for client, clock in clocks.items():
            if (
                not ascii_digits(client)
                or not 1 <= int(client) <= MAX_VAR_UINT
                or str(int(client)) != client
            ):
                raise HeldSignatureRefused(f"{what}: client id {client!r:.30} out of range")
            if (
                not isinstance(clock, int)
                or isinstance(clock, bool)
                or not 1 <= clock <= MAX_VAR_UINT
            ):
                raise HeldSignatureRefused(f"{what}: clock of {client} out of range")
            out[int(client)] = clock
    return HeldWord(node, venue, held)


#: the end of a word's body (sorted JSON: ``held``, ``node``, ``venue``): its node, read before the
#: word is checked, for a word whose certificate came by reference
_NODE = re.compile(r'"node":"([^"\\]{1,64})","venue":"[^"\\]*"\}$')


def word_node(body: str) -> str:
    """The node a word speaks for, read from its body's end (refused when it names none)."""
    found = _NODE.search(body[-200:])
    if found is None:
        raise HeldSignatureRefused(f"{ATTESTATION}: body names no node")
    return found.group(1)


def helds_wire(words: tuple[SignedHeld, ...]) -> list[dict[str, str]]:
    """The words as they go: a word whose certificate is ``""`` names it by reference (its node's,
    sent on this link before: ``Attesting._by_reference``)."""
    return [
        {"b": w.body, "c": w.cert, "s": w.sig} if w.cert else {"b": w.body, "s": w.sig}
        for w in words
    ]


def signed_parts_wire(parts: tuple[SignedHeld, ...]) -> list[dict[str, str]]:
    """Signed parts as they go, each with its signer's certificate (gone notices, said fields: rare,
    a link lost or a node's said fields changed, so never named by reference as attestations are)."""
    return [{"b": p.body, "c": p.cert, "s": p.sig} for p in parts]


def decode_signed_parts(
    raw: Any,
    what: str,
    field: str,
    noun: tuple[str, str],
    at_most: int,
    max_body: int,
    *,
    cert_optional: bool = False,
) -> tuple[SignedHeld, ...]:
    """The heartbeat's ``field`` of signed parts: a list of 1 to ``at_most`` ``{"b": body, "c":
    cert, "s": sig}``, each usable (``_signed.unusable_part``; checked against the venue CA later,
    before anything of the beat is taken). ``noun``: what one part and several are called in the
    refusal (``("notice", "notices")``). ``cert_optional``: a part may leave out its certificate
    (``"c"`` absent: named by reference, attestations' ``helds``)."""
    one, many = noun
    field_what = f"{what}: field {field!r}"
    keys = "'b', ['c'], 's'" if cert_optional else "'b', 'c', 's'"
    if not isinstance(raw, list) or not 0 < len(raw) <= at_most:
        raise RemoteProtocolError(f"{field_what} must be a list of 1 to {at_most} {many}")
    out: list[SignedHeld] = []
    for item in raw:
        if not isinstance(item, dict) or (
            item.keys() - {"c"} != {"b", "s"} if cert_optional else item.keys() != {"b", "c", "s"}
        ):
            raise RemoteProtocolError(f"{field_what}: each {one} an object with {keys}")
        body, cert, sig = item["b"], item.get("c", ""), item["s"]
        part = unusable_part(body, cert, sig, max_body, cert_optional=cert_optional)
        if part is not None:
            raise RemoteProtocolError(f"{field_what}: a {one} has no usable {part}")
        out.append(SignedHeld(body, cert, sig))
    return tuple(out)


def decode_helds(raw: Any, what: str) -> tuple[SignedHeld, ...]:
    """The ``helds`` field: a list of ``{"b": body, "c": cert, "s": sig}``, bounded and well formed
    (checked against the CA later, by the synchronizer); a certificate left out names it by
    reference (the node's came on this link before)."""
    return decode_signed_parts(
        raw, what, "helds", ("word", "words"), MAX_WORDS, MAX_WORD_BODY, cert_optional=True
    )
