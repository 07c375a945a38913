"""Which peers a node links to: a bounded, deterministic graph over the venue's membership.

docs/architecture.md (Links). A full mesh costs every device N−1 TLS links, a heartbeat per link and a
copy of every update per link: quadratic for the venue. Instead every node computes the same graph from
the same inputs (the set of node ids it knows are in the venue) and links only to its neighbours in it:

* The members, sorted by id, sit on a ring; each links to the nodes at ring offsets ±1 and ±k with
  k ≈ √N (a circulant graph). With :data:`DEGREE` 4 that is at most 4 links per device whatever N (5 in
  a venue of six, below), the ring keeps it connected, and the chords keep its diameter near √N (14 hops at 200 nodes).
* A node that leaves shifts the ring by one: only the nodes whose ring neighbour or chord spanned it
  pick another neighbour (about 2·k + 2 links change), so the graph heals locally.
* With N − 1 ≤ DEGREE every node links to every other: small venues keep today's full mesh (kitchen
  screens included).
* **Changed** (issue 18, tail): so does a venue of up to :data:`FULL_MESH` (six) devices, one more than
  DEGREE allows. At six the bounded graph saved three of fifteen links and put each device's opposite
  two hops away, behind another device's loop: in the six-register mesh bench the two-hop receiver was
  the slowest in 54–68 % of receipts and set the propagation p99 (docs/benchmarks.md, part ``tail``).
  Each update still crosses five links (a tree's edges then, the author's links now); a heartbeat goes
  on five links instead of four.

Views differ for a moment (a node just joined, a leaver is not yet known gone everywhere); a link exists
when either end wants it, so a node has at most a few links more than DEGREE while views converge.
Updates spread along the links: each node forwards what it applies (``_synchronizer``), and a copy that
arrives twice applies nothing the second time (the CRDT's state is the duplicate filter), so it goes no
further.

Pure functions: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable

#: the feature a peer announces (sync/_features.py) when it takes the topology's heartbeat fields and
#: links only to its neighbours; a peer without it (N−1) is linked to as before (full mesh)
TOPOLOGY_FEATURE = "topology1"
#: the feature a peer announces when it takes the heartbeat's far records as arrays (``farc``, half
#: the bytes of ``far``'s objects: a beat carries up to 8); a ``topology1`` peer without it gets ``far``
COMPACT_FAR_FEATURE = "farc1"

#: links per device in a large venue (ring ±1 and one chord each way)
DEGREE = 4
#: a venue of up to this many devices is a full mesh whatever the degree (every receiver one hop from
#: every author: a small venue's propagation tail), at the cost of one link more than DEGREE at six
FULL_MESH = 6
#: the feature a peer announces when it links on the full mesh up to :data:`FULL_MESH` devices; a
#: ``topology1`` peer without it (N−1) closes a link only that mesh wants, so it is not dialled again
#: (``_spread.wants_link``)
FULL_MESH_FEATURE = "mesh6"


def offsets(n: int, degree: int = DEGREE) -> tuple[int, ...]:
    """The ring offsets each node links to (each taken both ways), for ``n`` members.

    ``degree // 2`` offsets 1, k, k², … with k = round(n ** (1 / (degree // 2))): spread geometrically
    so any node is a few hops of each size from any other."""
    if degree < 2:
        raise ValueError(f"degree {degree}: at least 2 (a ring)")
    half = degree // 2
    base = max(2, round(n ** (1 / half)))
    chosen: list[int] = []
    for i in range(half):
        step = min(base**i, n // 2)
        if step >= 1 and step not in chosen:
            chosen.append(step)
    return tuple(chosen)


def neighbours(
    members: Iterable[str],
    node: str,
    degree: int = DEGREE,
    leaves: Iterable[str] = (),
    full_mesh: int = FULL_MESH,
) -> frozenset[str]:
    """The members ``node`` links to (``node`` itself included in ``members`` or not); every other
    one while the venue has at most ``full_mesh`` members or ``degree`` + 1.

    ``leaves`` are members that forward only some documents (a kitchen screen forwards no ledger and
    no catalog, ``_rules``): the ring is made of the others, and each leaf hangs on two of them
    (spread evenly round the ring), so no path depends on a leaf. With no forwarder at all, every
    member is on the ring."""
    everyone = sorted(set(members) | {node})
    if len(everyone) <= max(full_mesh, degree + 1):  # a small venue: the full mesh, screens too
        return frozenset(everyone) - {node}
    leaf_set = set(leaves) & set(everyone)
    ring = [m for m in everyone if m not in leaf_set]
    if not ring:
        ring, leaf_set = everyone, set()
    out: set[str] = set()
    hung = sorted(leaf_set)
    for j, leaf in enumerate(hung):
        anchors = _anchors(j, len(hung), ring)
        if leaf == node:
            out |= anchors
        elif node in anchors:
            out.add(leaf)
    if node not in leaf_set:
        n = len(ring)
        if n - 1 <= degree:
            out |= set(ring)
        else:
            i = ring.index(node)
            for step in offsets(n, degree):
                out.add(ring[(i + step) % n])
                out.add(ring[(i - step) % n])
    out.discard(node)
    return frozenset(out)


def _anchors(j: int, leaves: int, ring: list[str]) -> set[str]:
    """The two ring members leaf number ``j`` of ``leaves`` hangs on (one when the ring has one)."""
    n = len(ring)
    first = j * n // leaves
    return {ring[first % n], ring[(first + n // 2) % n]}


def graph(
    members: Iterable[str],
    degree: int = DEGREE,
    leaves: Iterable[str] = (),
    full_mesh: int = FULL_MESH,
) -> dict[str, frozenset[str]]:
    """Every member's neighbours (symmetric: b in graph[a] exactly when a in graph[b])."""
    everyone = sorted(set(members))
    hung = frozenset(leaves)
    return {node: neighbours(everyone, node, degree, hung, full_mesh) for node in everyone}


def diameter(links: dict[str, frozenset[str]]) -> int | None:
    """The longest shortest path (hops) of ``links``, or None when it is not connected."""
    longest = 0
    for start in links:
        seen = {start: 0}
        frontier = [start]
        while frontier:
            nxt: list[str] = []
            for node in frontier:
                for other in links.get(node, frozenset()):
                    if other not in seen:
                        seen[other] = seen[node] + 1
                        nxt.append(other)
            frontier = nxt
        if len(seen) != len(links):
            return None
        longest = max(longest, max(seen.values()))
    return longest


def tree(
    links: dict[str, frozenset[str]], root: str, leaves: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Each node's parent in the breadth-first tree of ``links`` from ``root`` (the lowest id among
    its neighbours one hop nearer that may pass things on: never a leaf but the root): every node
    computes the same tree from the same graph, so an update from ``root`` needs to cross each tree
    edge once. Nodes ``root`` cannot reach are left out.

    The trees of the last graph asked about (that very ``links`` object, which its owner keeps until
    the membership changes) are kept: forwarding (``_spread``) and attestations (``_held``) ask for
    the same trees. The result is shared: it must not be changed."""
    global _KEPT
    kept_links, by_leaves = _KEPT
    if kept_links is not links:
        by_leaves = {}
        _KEPT = (links, by_leaves)
    trees = by_leaves.get(leaves)
    if trees is None:
        if len(by_leaves) >= _MAX_LEAVES:
            by_leaves.clear()
        trees = by_leaves[leaves] = {}
    found = trees.get(root)
    if found is None:
        found = trees[root] = _tree(links, root, leaves)
    return found


#: (the graph, leaves -> root -> parents) of the last graph :func:`tree` was asked about
_KEPT: tuple[object, dict[frozenset[str], dict[str, dict[str, str]]]] = (None, {})
_MAX_LEAVES = 8  # sets of leaves kept for one graph (forwarding's, the attestations')


def _tree(links: dict[str, frozenset[str]], root: str, leaves: frozenset[str]) -> dict[str, str]:
    depth = {root: 0}
    frontier = [root]
    while frontier:
        nxt: list[str] = []
        for node in frontier:
            if node in leaves and node != root:
                continue  # reached, but it passes nothing on
            for other in sorted(links.get(node, frozenset())):
                if other not in depth:
                    depth[other] = depth[node] + 1
                    nxt.append(other)
        frontier = nxt
    return {
        node: min(
            p for p in links[node] if depth.get(p) == d - 1 and (p == root or p not in leaves)
        )
        for node, d in depth.items()
        if d > 0
    }
