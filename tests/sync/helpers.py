"""Shared helpers for the sync tests: hand-driven sessions and synchronizers (no network, no sleeps)."""

from __future__ import annotations

from pycrdt import Map

from meshpos.sync import Hello, Session, SessionConfig, Synchronizer

VENUE = "venue-1"


def hello(node: str, role: str = "register", client_id: int = 0, venue: str = VENUE) -> Hello:
    return Hello(venue, node, role, "meshpos/test", client_id or (abs(hash(node)) % 2**31) + 1)


def session(node: str, role: str = "register", **config: float) -> Session:
    return Session(hello(node, role), config=SessionConfig(**config))  # type: ignore[arg-type]


def shuttle(a: Session, b: Session) -> None:
    """Deliver everything queued in both directions until both are quiet (b"" ends a direction)."""
    while True:
        moved = False
        for src, dst in ((a, b), (b, a)):
            for data in src.data_to_send():
                moved = True
                if data:
                    dst.receive_data(data)
                else:
                    dst.receive_eof()
        if not moved:
            return


def sync_pair(
    a: Synchronizer, b: Synchronizer, now: float = 0.0, features: frozenset[str] = frozenset()
) -> tuple[str, str]:
    """Connect a and b by hand; returns (a's name for b, b's name for a). ``features``: what each
    announces to the other (default none: as an N−1 peer)."""
    ka, kb = f"{b.node_id}#x", f"{a.node_id}#x"
    a.tick(now)
    b.tick(now)
    a.connect(ka, features=features)
    b.connect(kb, features=features)
    pump(a, ka, b, kb)
    return ka, kb


def pump(a: Synchronizer, ka: str, b: Synchronizer, kb: str) -> None:
    while True:
        moved = False
        for src, skey, dst, dkey in ((a, ka, b, kb), (b, kb, a, ka)):
            for data in src.data_to_send(skey):
                moved = True
                if dkey not in dst.sessions:
                    continue
                if data:
                    dst.receive_data(dkey, data)
                else:
                    dst.receive_eof(dkey)
        if not moved:
            return


def items_node(
    name: str, doc: str, *, early: bool = False, client_base: int = 1000
) -> Synchronizer:
    """A register's synchronizer with ``doc`` open and committed (client id from its name)."""
    sync = Synchronizer(
        venue=VENUE,
        node_id=name,
        role="register",
        client_id=client_base + sum(map(ord, name)),
        forward_before_commit=early,
    )
    sync.open_doc(doc)
    commit(sync)
    return sync


def commit(sync: Synchronizer) -> list[object]:
    """What the engine does: drain the changes, commit them, say so (the events drained)."""
    events: list[object] = list(sync.events_received())
    sync.mark_committed(sync.drained)
    return events


def items(sync: Synchronizer, doc: str) -> dict[str, object]:
    """The ``items`` map of ``doc`` as plain values."""
    return dict(sync.docs[doc].get("items", type=Map).to_py() or {})
