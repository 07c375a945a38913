"""A signed word whose body is JSON nested past Python's recursion limit, signed with the sender's own
genuine key (the outside round of the twenty-third session, part ``attacker``): each decoder of signed
words refuses it by name (``_fields.signed_json``), and a heartbeat carrying one closes its session
with the reason; ``receive_data`` raised RecursionError before. The real node:
``tests/outside/test_deep_signed_word.py``."""

from __future__ import annotations

import pytest

from meshpos.errors import MeshposError
from meshpos.sync import Heartbeat, Hello, PeerClosed, Session, SyncConfig, Synchronizer
from meshpos.sync._bodies import heartbeat_body
from meshpos.sync._codec import HEARTBEAT
from meshpos.sync._features import FEATURES
from meshpos.sync._gone_words import decode_notice
from meshpos.sync._held_signed import decode_word
from meshpos.sync._said_words import decode_said
from meshpos.sync._signed import decode_tick_body
from meshpos.sync._stall_words import decode_stall
from meshpos.trust.authority import VenueAuthority
from meshpos.trust.device_word import DeviceWordSigner

from .helpers import VENUE
from .signed_bed import keyed
from .test_sync_held_signed import authority, identity  # noqa: F401  (``authority``: the fixture)
from .test_sync_synchronizer import flush

DEEP = "[" * 3_000 + "]" * 3_000


@pytest.mark.parametrize(
    "decode", [decode_word, decode_notice, decode_said, decode_stall, decode_tick_body]
)
def test_every_decoder_of_a_signed_word_refuses_a_body_nested_too_deep(decode: object) -> None:
    assert callable(decode)
    with pytest.raises(MeshposError, match="body must be an object"):
        decode(DEEP)


def test_a_heartbeat_carrying_one_closes_the_session_naming_it(
    authority: VenueAuthority,  # noqa: F811  (the fixture, imported)
) -> None:
    reg = Synchronizer(
        venue=VENUE, node_id="r1", role="register", client_id=111, config=SyncConfig()
    )
    keyed(reg, authority)
    reg.tick(0.0)
    key = "r9#raw"
    reg.connect(key, features=FEATURES)
    peer = Session(Hello(VENUE, "r9", "register", "x", 999))
    peer.open()
    flush(reg, key, peer)
    reg.events_received()
    signed = DeviceWordSigner(identity(authority, "r9"))(DEEP)
    beat = Heartbeat("r9", "register", 1, False, False, 3, helds=(signed,))
    reg.receive_data(key, bytes([HEARTBEAT]) + heartbeat_body(beat, FEATURES))
    flush(reg, key, peer)
    [closed] = [e for e in reg.events_received() if isinstance(e, PeerClosed)]
    assert "body must be an object of" in closed.reason
    assert key not in reg.sessions
