"""Honest gone notices are taken when several nodes leave together (twentieth session, part ``fifty``).

A node takes a signed gone notice only from a signer linked to the named node in its view of the
topology (sync/_notices.py ``_was_linked``). Views move with every departure (a node held gone leaves
the ring, which shifts), and a link outlives the view it was made in by a few beats: when several
nodes left at once or one after another, a node that had marked one of them already found the
signer of the next "no neighbour" of it and refused the honest notice (``gone_not_linked``, logged
as a device's bad claim; the 50-device mesh bench logged hundreds when its first register stopped),
and passed it on to nobody: a node whose every signer was refused kept the dead one as a member and
candidate until its record went stale. Now the views before the departures held here are asked too; a signer that is no neighbour in any of them is still refused
(tests/outside/test_forged_gone_notice.py).

Real ``Synchronizer`` objects on the in-memory network, each keyed by a real venue CA (every real
node is), simulated time.
"""

from __future__ import annotations

import random

import pytest

from meshpos.sync import Synchronizer
from meshpos.sync._gone_words import decode_notice, notice_body
from meshpos.sync._topology import neighbours
from meshpos.trust.authority import VenueAuthority, init_venue
from meshpos.trust.device_word import DeviceWordSigner

from .helpers import VENUE
from .signed_bed import keyed
from .test_sync_held_signed import identity
from .test_sync_topology import DOC, Venue


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> VenueAuthority:
    return init_venue(tmp_path_factory.mktemp("venue") / "venue", "Cafe", VENUE)


def _keyed(authority: VenueAuthority, n: int) -> tuple[Venue, list[Synchronizer]]:
    venue = Venue(n)
    for sync in venue.net.nodes.values():
        keyed(sync, authority)
    venue.settle(12.0)
    return venue, list(venue.net.nodes.values())


def _refused(nodes: list[Synchronizer]) -> int:
    return sum(s.claim_refusals.counts.get("gone_not_linked", 0) for s in nodes)


def _stop(venue: Venue, name: str) -> None:
    """A graceful stop: its goodbyes close its links (its peers sign it gone), then it is off."""
    sync = venue.net.nodes[name]
    for key in list(sync.sessions):
        sync.close(key, "node shutting down")
    venue.net.pump(name)
    venue.net.crash(name)


def _all_marked(venue: Venue, victims: list[str]) -> bool:
    return all(s._far.marked(v) for s in venue.net.nodes.values() for v in victims)


@pytest.mark.parametrize("seed", [1, 2])
def test_nodes_killed_together_are_marked_everywhere_and_no_honest_notice_is_refused(
    authority: VenueAuthority, seed: int
) -> None:
    venue, nodes = _keyed(authority, 12)
    victims = random.Random(seed).sample(sorted(venue.net.nodes), 3)
    for victim in victims:
        venue.net.crash(victim, notify_peers=True)
    took = venue.until(lambda: _all_marked(venue, victims), limit=1.0)
    venue.net.advance(3.0)  # (every notice passed on for its three beats)
    assert _refused(nodes) == 0, f"honest notices refused (all marked after {took:.2f} s)"


def test_nodes_stopped_one_after_another_are_marked_everywhere_by_their_neighbours(
    authority: VenueAuthority,
) -> None:
    """Each stop a few beats' worth of view apart: a signer's link to the next one was made in the
    view before the last departure (the ring shifted), or outlived it."""
    venue, nodes = _keyed(authority, 20)
    stopped = ["R001", "R002", "R003", "R004"]
    for name in stopped:
        _stop(venue, name)
        venue.net.advance(0.3)
    venue.until(lambda: _all_marked(venue, stopped), limit=1.0)
    venue.net.advance(3.0)
    assert _refused(nodes) == 0


def test_a_node_that_restarted_is_marked_by_its_neighbours_notices_when_it_dies_again(
    authority: VenueAuthority,
) -> None:
    """A register stopped (its neighbours sign it gone, truly) and started again a few seconds
    later: its new run's records lift the marks. Each node took the word of the neighbour whose
    notice had marked it there back as wrong (not heard about it for 5 minutes), so when it died
    again soon after, those honest notices were refused (``gone_taken_back``, logged as a device's
    bad claim; had every neighbour's been taken back somewhere, that node would have kept it a
    member and candidate till its record went stale). A new run's seq starts at its wall clock's ms,
    far above a live run's rise."""
    venue, nodes = _keyed(authority, 12)
    old = venue.net.nodes["R001"]
    _stop(venue, "R001")
    venue.until(lambda: _all_marked(venue, ["R001"]), limit=1.0)
    venue.net.advance(4.0)
    again = Synchronizer(
        venue=VENUE, node_id="R001", role="register", client_id=old.client_id, config=old.config
    )
    again.open_doc(DOC)
    venue.net.add(again)
    venue.until(lambda: not any(s._far.marked("R001") for s in venue.net.nodes.values()), 2.0)
    venue.net.advance(6.0)
    far = [n for n, s in venue.net.nodes.items() if n != "R001" and not s._linked_to("R001")]
    assert far
    venue.net.crash("R001", notify_peers=True)
    venue.until(lambda: all(venue.net.nodes[n]._far.marked("R001") for n in far), limit=1.0)
    refused = sum(s.claim_refusals.counts.get("gone_taken_back", 0) for s in nodes)
    assert refused == 0


def test_a_signer_no_neighbour_in_any_view_before_the_departures_is_still_refused(
    authority: VenueAuthority,
) -> None:
    """Two nodes gone and marked here; an enrolled device far from a live node on the ring signs it
    gone (its own real key): no view, with or without the departed, makes them neighbours."""
    venue, _ = _keyed(authority, 12)
    for victim in ("R002", "R003"):
        venue.net.crash(victim, notify_peers=True)
    venue.until(lambda: _all_marked(venue, ["R002", "R003"]), limit=1.0)
    node, by = "R001", "R007"
    alive = frozenset(venue.net.nodes)
    for members in (alive, alive | {"R002"}, alive | {"R003"}, alive | {"R002", "R003"}):
        assert by not in neighbours(members, node)
        assert node not in neighbours(members, by)
    receiver = next(
        s for n, s in venue.net.nodes.items() if n not in (node, by) and not s._linked_to(node)
    )
    seq = receiver._far.seq(node)
    assert seq is not None
    signed = DeviceWordSigner(identity(authority, by))(notice_body(node, by, seq + 1, VENUE))
    receiver._take_notices(by, [(signed, decode_notice(signed.body))])
    assert not receiver._far.marked(node)
    assert receiver.claim_refusals.counts.get("gone_not_linked") == 1
