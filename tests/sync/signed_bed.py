"""Keys for the in-memory bed's synchronizers (issue 18, notice): a real venue CA's device key each.

A node given one signs its attestations and gone notices with it and checks its peers' (what every
real node does: ``meshpos/node.py``); the bed's nodes have none unless a test keys them.
"""

from __future__ import annotations

from dataclasses import replace

from meshpos.sync import Synchronizer
from meshpos.trust.authority import VenueAuthority
from meshpos.trust.device_word import DeviceWordChecker, DeviceWordSigner

from .helpers import VENUE
from .test_sync_held_signed import identity


def keyed(sync: Synchronizer, authority: VenueAuthority, *, signing: bool = True) -> None:
    """Give ``sync`` its device key of ``authority``'s venue (issued once per node id) and a checker
    of its peers' words; ``signing=False``: it checks, but signs nothing (as an N−1 node's neighbour
    that cannot sign)."""
    signer = DeviceWordSigner(identity(authority, sync.node_id))
    checker = DeviceWordChecker(authority.ca_pem, VENUE)
    sync.config = replace(sync.config, held_signer=signer if signing else None, held_check=checker)
