"""An enrolled device hides a live device from the venue with one forged gone notice (red, fifteenth
session; a finding, not closed).

On the bounded topology a node that loses its link to a peer tells the mesh the peer is gone, with the
last heartbeat number (``seq``) it heard from it, and every node takes the notice from any linked peer
(sync/_spread.py ``_learn_far``): it forgets the node's far record and presence until a record with a
higher ``seq`` arrives. The notice is unsigned and its ``seq`` is the sender's word: an enrolled device
(a real certificate, a real link) that names a live register gone "as of" 2**52 makes every node not
linked to that register forget it for good; the register's own refutation (its next beat numbered
above the notice) does not bring it back. Those nodes then leave it out of the "n" of "on k of n
devices" (register/status.py ``_durability``: a sale it lacks reads "on 7 of 7" where the truth is 7
of 8, more optimistic than the truth) and, by the code (not tried here), out of the election's
candidates and the topology's members.

A bound on ``seq`` does not close it (the device learns the register's ``seq`` and names the next one,
every beat); gone notices need the word of a node that was linked to the register (signed, as the
attestations are since issue 18, sign) or a far record's own timeout. Left xfail (strict) for that
work. The project's in-memory bed for hostile devices (tests/sync/test_sync_forged_claims.py): real
``Synchronizer`` objects, the forger one whose beats carry the notice.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from meshpos.sync import Synchronizer
from meshpos.sync._messages import Heartbeat
from meshpos.sync._session import Session
from tests.sync.helpers import VENUE
from tests.sync.test_sync_topology import CONFIG, DOC, Venue

VICTIM = "R003"
HUGE_SEQ = 2**52


class Forger(Synchronizer):
    """An enrolled register whose every beat says the victim is gone, as of a far future beat."""

    def _addressed(self, beat: Heartbeat, session: Session) -> Heartbeat:
        return replace(super()._addressed(beat, session), gone={VICTIM: HUGE_SEQ})


@pytest.mark.xfail(
    strict=True,
    reason="finding (docs/architecture.md (Security)): a gone notice is taken from any linked "
    "peer with the sender's seq, unsigned",
)
def test_a_forged_gone_notice_does_not_hide_a_live_register() -> None:
    venue = Venue(8)
    venue.settle(8.0)
    honest = [name for name in venue.net.nodes if name != VICTIM]
    assert all(VICTIM in venue.net.nodes[name].presence for name in honest)
    forger = Forger(venue=VENUE, node_id="R900", role="register", client_id=99, config=CONFIG)
    forger.open_doc(DOC)
    venue.net.add(forger)
    venue.settle(12.0)  # over two anti-entropy periods: the victim's refutations have gone round
    blind = sorted(name for name in honest if VICTIM not in venue.net.nodes[name].presence)
    assert blind == [], f"{VICTIM} is gone to {blind} while it beats"
