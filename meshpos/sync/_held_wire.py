"""The attestations' compact form on the wire: the heartbeat's ``heldc`` field (issue 18, held).

docs/architecture.md (Status). ``held`` (``_bodies``, sync/_held.py) names, per attestation, its node,
document, client id (a decimal string) and clock: ``{"R5": {"ledger/2026-12-05": {"3828472364": 41}}}``,
~45 bytes each, ~4.7 kB of heartbeats per receipt at 50 devices. The attestations one beat carries to
one link are mostly of one day, and many about one author's latest clock (every device that took a
sale attests the same clock to the author's tree), so ``heldc`` groups them:
``{"ledger/2026-12-05": [[3828472364, 41, "R5", "R6"], ["R7", 3828472364, 40, 917, 12]]}`` — per
document, [client, clock, and the nodes that hold the client's structs below that clock] where several
nodes share a (client, clock), and [node, then client and clock pairs] for the rest (a node's own
attestations, one per author, share none). The same attestations, decoded to the
same map as ``held``; sent only to a peer that announced :data:`~meshpos.sync._held.HELD_COMPACT_FEATURE`
(``_bodies.HEARTBEAT_FIELD_FEATURES``), ``held`` to any other ``held1`` peer.

Decoding is as strict as ``held``'s: ledger documents only, at most ``MAX_HELD`` attestations in all,
client ids and clocks as JSON integers in range, valid node ids, no node twice for one client of one
document, never both fields in one beat.
"""

from __future__ import annotations

from typing import Any

from meshpos.errors import RemoteProtocolError
from meshpos.lib0 import MAX_VAR_UINT
from meshpos.model.documents import is_ledger, valid_document_name
from meshpos.sync._fields import _ID
from meshpos.sync._held import MAX_HELD

Held = dict[str, dict[str, dict[int, int]]]  # node -> document -> client -> clock


def held_compact(held: Held) -> dict[str, list[list[int | str]]]:
    """``held`` grouped per document: by (client, clock) where several nodes share one, the rest
    by node; sorted, the same bytes every time."""
    groups: dict[str, dict[tuple[int, int], list[str]]] = {}
    for node, docs in held.items():
        for doc, clocks in docs.items():
            by = groups.setdefault(doc, {})
            for client, clock in clocks.items():
                by.setdefault((client, clock), []).append(node)
    out: dict[str, list[list[int | str]]] = {}
    for doc, by in groups.items():
        rows: list[list[int | str]] = []
        alone: dict[str, list[int | str]] = {}
        for (client, clock), nodes in sorted(by.items()):
            if len(nodes) > 1:
                rows.append([client, clock, *sorted(nodes)])
            else:
                alone.setdefault(nodes[0], [nodes[0]]).extend((client, clock))
        out[doc] = rows + [alone[node] for node in sorted(alone)]
    return out


def _count(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_VAR_UINT


def decode_held_compact(raw: Any, what: str, with_held: bool) -> Held:
    """The attestations of ``raw``, a beat's ``heldc`` field; ``with_held``: the beat has a ``held``
    field too (refused: a beat carries one of the two)."""
    field_what = f"{what}: field 'heldc'"
    if not isinstance(raw, dict):
        raise RemoteProtocolError(f"{field_what} must be an object of ledger documents")
    if with_held:
        raise RemoteProtocolError(f"{what}: fields 'held' and 'heldc' both (one or the other)")
    held: Held = {}
    entries = 0
    for doc, groups in raw.items():
        if not valid_document_name(doc) or not is_ledger(doc):
            raise RemoteProtocolError(f"{field_what} names no ledger {doc!r:.80}")
        doc_what = f"{field_what} for {doc}"
        if not isinstance(groups, list) or not groups:
            raise RemoteProtocolError(f"{doc_what}: not a list of attestations")
        for group in groups:
            if not isinstance(group, list) or len(group) < 3:
                raise RemoteProtocolError(
                    f"{doc_what}: not [client, clock, node...] nor [node, client, clock...]"
                )
            if isinstance(group[0], str):  # one node and its (client, clock) pairs
                if len(group) % 2 == 0:
                    raise RemoteProtocolError(f"{doc_what}: a client without a clock")
                entries += len(group) // 2
                _bound(entries, field_what)
                clocks = _clocks_of(held, group[0], doc, field_what)
                for k in range(1, len(group), 2):
                    _put(clocks, group[k], group[k + 1], group[0], doc_what)
            else:  # one (client, clock) and the nodes that hold it
                entries += len(group) - 2
                _bound(entries, field_what)
                client, clock = group[0], group[1]
                _put({}, client, clock, "", doc_what)  # (checked once for every node)
                for node in group[2:]:
                    clocks = _clocks_of(held, node, doc, field_what)
                    if client in clocks:
                        raise RemoteProtocolError(f"{doc_what}: {node} twice for {client}")
                    clocks[client] = clock
    return held


def _bound(entries: int, what: str) -> None:
    if entries > MAX_HELD:
        raise RemoteProtocolError(f"{what}: more than {MAX_HELD} entries")


def _clocks_of(held: Held, node: Any, doc: str, what: str) -> dict[int, int]:
    if not isinstance(node, str) or not _ID.fullmatch(node):
        raise RemoteProtocolError(f"{what} names an invalid node id {node!r:.80}")
    return held.setdefault(node, {}).setdefault(doc, {})


def _put(clocks: dict[int, int], client: Any, clock: Any, node: str, what: str) -> None:
    if not _count(client, 1) or not _count(clock, 1):
        raise RemoteProtocolError(
            f"{what}: client id and clock must be integers in [1, {MAX_VAR_UINT}]"
        )
    if client in clocks:
        raise RemoteProtocolError(f"{what}: {node} twice for {client}")
    clocks[client] = clock
