"""A stopping node opens no session after its goodbyes (issue 18, notices).

Found by tests/mesh/test_gone_notices_mesh.py: the relay stopped (SIGTERM), said goodbye on every link,
and its dialer, seeing those links closed, linked to its neighbours again in the second before the links
were stopped. Those sessions exchanged hellos and heartbeats, so its neighbours took back the gone
notices they had just signed about it and distrusted their own word about it for five minutes: when it
really went, the far nodes waited for its record to go stale (3.3 s, not 0.3 s). A connection that
opens while the engine is closing is hung up without a word.
"""

from __future__ import annotations

from .test_engine import Recording, engine, peer


async def test_a_link_opened_after_the_goodbyes_is_hung_up_without_a_session() -> None:
    a = await engine("R1", Recording())
    b = await engine("R2", Recording())
    await a.begin_stop()
    sent: list[bytes] = []
    a.link_opened("R2-again", peer(b), sent.extend)
    assert sent == [b""]  # (an empty message closes the connection: no hello, no heartbeat)
    assert "R2-again" not in a.sync.sessions
    await a.link_messages("R2-again", [b"anything"])  # (what arrives before it closes: ignored)
    await a.link_closed("R2-again", "closed")
    assert "R2-again" not in a.sync.sessions
