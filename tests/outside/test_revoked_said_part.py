"""A device revoked after its said fields were signed and taken (outside round, eighteenth session: farsign).

Every node keeps each node's newest signed said part and passes it on to every new link
(``_far_signing``); a taker checks every part of a beat against the venue CA and the deny-list, and a
part that fails closes the session as bad input. A register stolen and revoked (``meshpos revoke``;
or a device whose certificate expired) leaves its part held on every node: each new link is then
sent a part its peer must refuse, and the link closes, again and again: a new register (or any node
restarted) linked with no one. Such a part is now skipped; a forged one still closes the session
(tests/sync/test_sync_signed_said.py).
"""

from __future__ import annotations

from meshpos.sync import PeerClosed, SyncEvent, Synchronizer
from meshpos.trust.authority import VenueAuthority
from meshpos.trust.device_word import DeviceWordChecker

from ..sync.helpers import VENUE
from ..sync.signed_bed import keyed
from ..sync.test_sync_signed_said import authority as authority  # (the module's fixture)
from ..sync.test_sync_topology import CONFIG, DOC, Venue


def _checker(sync: Synchronizer) -> DeviceWordChecker:
    check = sync.config.held_check
    assert isinstance(check, DeviceWordChecker)
    return check


def test_a_revoked_devices_part_held_by_peers_does_not_close_new_links(
    authority: VenueAuthority,
) -> None:
    venue = Venue(8)
    for sync in venue.net.nodes.values():
        keyed(sync, authority)
    venue.settle(8.0)
    stolen = "R004"
    assert all(
        s._far.vouched(stolen) is not None or s._linked_to(stolen)
        for n, s in venue.net.nodes.items()
        if n != stolen
    )
    venue.net.crash(stolen)  # taken from the venue
    for sync in venue.net.nodes.values():
        _checker(sync).is_revoked = lambda device: device == stolen
    venue.settle(6.0)
    # a new register joins the venue (or any two nodes link again after a cable pull)
    new = Synchronizer(venue=VENUE, node_id="R009", role="register", client_id=99, config=CONFIG)
    keyed(new, authority)
    _checker(new).is_revoked = lambda device: device == stolen
    new.open_doc(DOC)
    closed: list[tuple[str, str]] = []

    def listen(node: str, event: SyncEvent) -> None:
        if isinstance(event, PeerClosed) and event.error is not None:
            closed.append((node, event.reason))

    venue.net.listener = listen
    venue.net.add(new)
    venue.settle(8.0)
    assert closed == []
    assert len(new.presence) == 7  # every node of the venue but the stolen one
    assert new.said_parts.skipped > 0  # (the stolen register's part, passed on: not taken)
    assert new._far.vouched(stolen) is None
