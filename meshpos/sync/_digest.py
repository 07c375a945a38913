"""Anti-entropy by digest (issue 18): one small message per link per period instead of a sync step 1 for
every document, answered by a step 1 only for the documents whose hash differs.

Every ``anti_entropy_interval`` a node sends each peer that announced :data:`DIGEST_FEATURE` one
:class:`~meshpos.sync._messages.Digest`: per document it holds, an 8-byte hash of its state. The peer
compares each with its own and sends its own step 1 for every document that differs (or that only one of
them holds); the sender, seeing the same difference in the peer's digest, sends its step 1 too, so both
directions are repaired as the step 1s of every document did before, and an idle mesh in sync exchanges one
digest per link per period. Peers without the feature (N−1) keep getting step 1s.

The hash covers the state vector AND the delete set: a deletion does not advance the state vector, so a
lost delete-only update would never show in a hash of the state vector alone. Both are canonicalised first
(pycrdt's byte order of clients is not: it comes from a hash map).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pycrdt import Doc

from meshpos.errors import RemoteProtocolError
from meshpos.lib0 import Reader, write_var_bytes, write_var_string, write_var_uint
from meshpos.model.documents import MAX_DOC_NAME, valid_document_name
from meshpos.model.replica import encode_state_vector
from meshpos.sync._messages import Digest
from meshpos.sync._updates import held_clocks

#: a peer that announced this takes Digest messages (``_codec.DIGEST``)
DIGEST_FEATURE = "digest1"

HASH_BYTES = (
    8  # a document's hash: 2**-64 to miss a difference, for 8 bytes per document per period
)
MAX_DIGEST_DOCS = 4096  # documents in one digest: more is a hostile peer, not a venue


def doc_hash(doc: Doc[Any]) -> bytes:
    """The hash of ``doc``'s state: its state vector and its delete set, both in canonical form."""
    state = encode_state_vector(dict(held_clocks(doc)))
    deletes = _canonical_delete_set(doc.get_update(doc.get_state()))
    return hashlib.blake2b(write_var_bytes(state) + deletes, digest_size=HASH_BYTES).digest()


def _canonical_delete_set(update: bytes) -> bytes:
    """The delete set of an update without structs (ours, so well formed), clients and ranges sorted
    and adjacent ranges merged, as var-uints."""
    reader = Reader(update)
    if reader.read_var_uint("structs") != 0:
        raise ValueError("an update of a state vector like its own carries structs")
    clients: dict[int, list[tuple[int, int]]] = {}
    for _ in range(reader.read_var_uint("delete set clients")):
        client = reader.read_var_uint("client")
        ranges = clients.setdefault(client, [])
        for _ in range(reader.read_var_uint("ranges")):
            ranges.append((reader.read_var_uint("clock"), reader.read_var_uint("length")))
    out = [write_var_uint(len(clients))]
    for client in sorted(clients):
        merged: list[list[int]] = []
        for clock, length in sorted(clients[client]):
            if merged and clock <= merged[-1][0] + merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], clock + length - merged[-1][0])
            else:
                merged.append([clock, length])
        out.append(write_var_uint(client) + write_var_uint(len(merged)))
        out.extend(write_var_uint(clock) + write_var_uint(length) for clock, length in merged)
    return b"".join(out)


def digest_body(digest: Digest) -> bytes:
    """var-uint count, then per document its var-string name and :data:`HASH_BYTES` bytes of hash."""
    out = [write_var_uint(len(digest.hashes))]
    for name, value in digest.hashes:
        out.append(write_var_string(name) + value)
    return b"".join(out)


def decode_digest(body: bytes) -> Digest:
    """Decode and validate a digest's body; RemoteProtocolError names what is wrong."""
    reader = Reader(body)
    count = reader.read_var_uint("digest count")
    if count > MAX_DIGEST_DOCS or count > reader.remaining // (HASH_BYTES + 2):
        raise RemoteProtocolError(
            f"digest: {count} documents (at most {MAX_DIGEST_DOCS}) cannot fit in {len(body)} bytes"
        )
    hashes: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for i in range(count):
        name = reader.read_var_string(f"digest document {i} name")
        if len(name) > MAX_DOC_NAME or not valid_document_name(name):
            raise RemoteProtocolError(
                f"digest: document {i} name {name[:MAX_DOC_NAME]!r}: not a known document"
            )
        if name in seen:
            raise RemoteProtocolError(f"digest: document {name!r} listed twice")
        seen.add(name)
        if reader.remaining < HASH_BYTES:
            raise RemoteProtocolError(f"digest: hash of {name!r} cut short")
        hashes.append((name, reader.read_bytes(HASH_BYTES, f"digest hash of {name!r}")))
    reader.expect_end("digest")
    return Digest(tuple(hashes))
