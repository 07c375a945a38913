"""How far the engine has committed what its documents took, as the sessions see it: what lets a node
forward a peer's update before its own commit while nothing that says what it holds leaves early
(docs/architecture.md (Engine)). Kept apart from the session, which consults it on every send."""

from __future__ import annotations


class Commits:
    """How far the engine has committed what its documents took, as the sessions see it
    (docs/architecture.md (Engine), forwarding before the commit).

    The engine drains the synchronizer's changes (``drained`` counts the drains) and commits each
    drain's batch whole (``committed``: the last drain whose changes, and all before, are durable).
    While something the documents took is not committed, a message that may tell a peer what this
    device holds (a sync step 1, a heartbeat, a step 2 reply) or carry a change no other device has
    committed (a local write, a stock Yjs client's update) is held until the drain that takes it is
    committed (:attr:`gate`). Only an update a peer sent, forwarded as it came (its author committed
    it before it left), goes at once (``free``); with nothing uncommitted, everything does.

    **Changed** (issue 18, received): what is held waits for ``synced``, not ``committed``: a node
    commits a round of received updates without an fsync (their authors hold them durably), and
    only once an fsync covers that commit (an fsync'd commit after it, or ``Store.sync``) may this
    device tell anyone it holds them. ``synced <= committed``; they differ only while such a commit
    is not yet fsync'd (docs/architecture.md (Durability))."""

    __slots__ = ("committed", "drained", "holding_drain", "synced", "undrained", "wanted")

    def __init__(self) -> None:
        self.drained = 0
        self.committed = 0
        self.synced = 0  # the last drain whose changes, and all before, survive a power cut
        self.undrained = 0  # changes applied since the last drain
        self.holding_drain = 0  # the last drain that took changes
        self.wanted = 0  # the last drain a message was held for (``hold``)

    def hold(self) -> int:
        """The drain a message queued now waits for (0: none, it may go at once), noted in
        ``wanted``. **Changed** (issue 18, recv): the engine fsyncs a received round soon only
        when a message waits for it (``wanted > synced``), not after every round: at a venue's
        rate (a receipt every 200 ms) every device fsync'd every receipt, for attestations that
        leave with the next heartbeat, a second later (docs/architecture.md (Durability))."""
        if self.undrained:
            gate = self.drained + 1  # the next drain takes everything applied so far
        elif self.holding_drain > self.synced:
            gate = self.holding_drain
        else:
            return 0
        self.wanted = max(self.wanted, gate)
        return gate
