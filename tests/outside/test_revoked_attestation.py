"""An attestation of a device revoked while its word is on its way (nineteenth session, robust).

A device's signed attestations travel towards each author along its tree, every hop passing on the
word as signed (``_attesting``); a taker checks every word of a beat against the venue CA and the
deny-list. The deny-list reaches the nodes one after another (it is a document like any other), so
while it spreads a word the revoked register signed is passed on by a hop that does not know yet to
one that does. That refusal closed the session as bad input (11 closures in 10 simulated s here),
as gone notices' and said parts' did (``test_revoked_gone_notice``, ``test_revoked_said_part``);
such a word is now not counted and not passed on (as a word by reference to a certificate the node
does not hold already was); a forged word still closes the session
(tests/sync/test_sync_held_signed.py, tests/mesh/test_attest_signed.py).
"""

from __future__ import annotations

from meshpos.sync import PeerClosed, SyncEvent
from meshpos.trust.authority import VenueAuthority

from ..sync.test_sync_held_signed import SignedVenue
from ..sync.test_sync_held_signed import authority as authority  # (the module's fixture)


def test_a_revoked_devices_attestation_passed_on_does_not_close_links(
    authority: VenueAuthority,
) -> None:
    venue = SignedVenue(authority, 12)
    venue.net.advance(20.0, step=0.05)
    stolen = "R002"
    unaware = venue.net.links()[stolen]  # its neighbours learn of the revocation last
    closed: list[tuple[str, str]] = []

    def listen(node: str, event: SyncEvent) -> None:
        # (a link of the revoked register's own may close: in a real venue mTLS refuses it)
        if isinstance(event, PeerClosed) and event.error is not None and stolen != event.node:
            closed.append((f"{node}-{event.node}", event.reason))

    venue.net.listener = listen
    asked: list[str] = []

    def revoked(device: str) -> bool:
        asked.append(device)
        return device == stolen

    for name, checker in venue.checkers.items():
        if name != stolen and name not in unaware:
            checker.is_revoked = revoked
    far = sorted(n for n in venue.net.nodes if n != stolen and n not in unaware)
    for i, seller in enumerate(far * 2):
        venue.write(seller, f"sale-{i}")
        venue.net.advance(0.5, step=0.05)
    venue.net.advance(5.0, step=0.05)
    assert closed == []
    assert stolen in asked  # (its words reached the nodes that know)
    skipped = sum(s._attested.skipped for n, s in venue.net.nodes.items() if n not in unaware)
    assert skipped > 0
