"""A gone notice of a device revoked after it signed it (nineteenth session, robust; the eighteenth session's note).

A node that loses a link signs a gone notice, and every node that takes it passes it on for three
beats (``_notices.NoticeTable.out``); a taker checks every notice of a beat against the venue CA and
the deny-list, and one that failed closed the session as bad input. A register stolen and revoked
(``meshpos revoke``) just after it signed one (its neighbour died, or the thief pulled its cable)
left its notice held on nodes that went on passing it: each link that carried it was closed by the
receiver that knew of the revocation, for about three beats. Such a notice is now skipped (counted
in ``NoticeTable.skipped``), like said parts (``test_revoked_said_part``); a forged one still closes
the session (tests/sync/test_sync_signed_notices.py).

Real synchronizers and sessions on the in-memory network, each keyed with its device key of a real
venue CA (``signed_bed.keyed``: what every real node does).
"""

from __future__ import annotations

from meshpos.sync import PeerClosed, SyncEvent, Synchronizer
from meshpos.sync._gone_words import decode_notice
from meshpos.trust.authority import VenueAuthority
from meshpos.trust.device_word import DeviceWordChecker

from ..sync.signed_bed import keyed
from ..sync.test_sync_signed_said import authority as authority  # (the module's fixture)
from ..sync.test_sync_topology import Venue


def _checker(sync: Synchronizer) -> DeviceWordChecker:
    check = sync.config.held_check
    assert isinstance(check, DeviceWordChecker)
    return check


def _holding_notice_by(venue: Venue, signer: str) -> set[str]:
    """The nodes that hold (and pass on) a notice signed by ``signer``."""
    return {
        name
        for name, sync in venue.net.nodes.items()
        if name != signer
        and any(decode_notice(n.body).by == signer for n, _ in sync.notices.kept.values())
    }


def test_a_revoked_devices_gone_notice_passed_on_does_not_close_links(
    authority: VenueAuthority,
) -> None:
    venue = Venue(8)
    for sync in venue.net.nodes.values():
        keyed(sync, authority)
    venue.settle(8.0)
    stolen, dead = "R002", "R001"  # (R002 ticks first of R001's neighbours: its notice is taken)
    assert dead in venue.net.links()[stolen]
    venue.net.crash(dead)  # its neighbours sign notices: the stolen register among them
    step = 0.05
    waited = 0.0
    while not _holding_notice_by(venue, stolen):
        assert waited < 10.0, "no node took the stolen register's notice"
        venue.net.advance(step, step=step)
        waited += step
    closed: list[tuple[str, str]] = []
    gone = (stolen, dead)

    def listen(node: str, event: SyncEvent) -> None:
        # (a link of neither the stolen register nor the dead node: it had no cause to close)
        if isinstance(event, PeerClosed) and event.error is not None and event.node not in gone:
            closed.append((f"{node}-{event.node}", event.reason))

    venue.net.listener = listen
    for name, sync in venue.net.nodes.items():  # revoked: every node knows at once
        if name != stolen:
            _checker(sync).is_revoked = lambda device: device == stolen
    venue.settle(6.0)
    assert closed == []
    skipped = sum(s.notices.skipped for n, s in venue.net.nodes.items() if n != stolen)
    assert skipped > 0  # (the stolen register's notice, passed on: not taken)
