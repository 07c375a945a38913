"""The presence view makes each far record into a heartbeat once (issue 18, cpu).

``Synchronizer.presence`` is read by every status (a few times a tick while sales arrive) and made a
new ``Heartbeat`` of every far record on every read: at 20 devices, most of them beyond the links,
~2 % of a device's CPU. Each record's heartbeat is now kept with the record; a newer record (its seq
rose, or it says something new) makes a new one, so the view never shows less than the table holds.
"""

from __future__ import annotations

from meshpos.sync._messages import FarRecord, Heartbeat
from meshpos.sync._presence import UNREACHABLE, FarTable
from tests.sync.test_sync_topology import Venue


def _as_beat(r: FarRecord) -> Heartbeat:
    """What the view made of a far record before (the reference)."""
    return Heartbeat(
        node=r.node,
        role=r.role,
        priority=r.priority,
        uplink=r.uplink,
        relay=r.relay,
        seq=r.seq,
        problem=r.problem,
    )


def test_a_far_records_heartbeat_is_made_once_and_again_when_the_record_moves() -> None:
    table = FarTable()
    table.learn(FarRecord("R2", "register", 5, False, False, 1), now=0.0)
    table.learn(FarRecord("R3", "register", 5, True, False, 1, problem="no console"), now=0.0)
    first = table.beats(())
    assert first == {n: _as_beat(r) for n, r in table.records.items()}
    again = table.beats(())
    assert again["R2"] is first["R2"]  # fails before (no ``beats``: made on every read)
    assert table.beats({"R2"}).keys() == {"R3"}  # a linked node's own heartbeat shows instead

    table.learn(FarRecord("R2", "register", 5, True, False, 2), now=1.0)  # seq rose: news
    moved = table.beats(())
    assert moved["R2"] == _as_beat(table.records["R2"])
    assert moved["R2"].seq == 2
    assert moved["R2"].uplink
    assert moved["R3"] is first["R3"]
    table.gone("R3", 1, now=2.0)  # (issue 18, gone) marked: still counted, made again as such
    marked = table.beats(())["R3"]
    assert marked.problem == UNREACHABLE
    assert not marked.uplink
    assert table.beats(()).keys() == {"R2", "R3"}
    assert table.records.keys() == {"R2"}  # not passed on


def test_the_view_of_a_bounded_mesh_is_what_the_records_and_the_links_say() -> None:
    venue = Venue(20)
    venue.settle(20.0)
    for name, sync in venue.net.nodes.items():
        view = sync.presence
        live = sync._presence.beats()
        expected = {n: _as_beat(r) for n, r in sync._far.records.items() if n != name}
        expected.update(live)
        assert view == dict(sorted(expected.items()))
        assert list(view) == sorted(view)
        assert set(view) == set(venue.net.nodes) - {name}
        assert sync.linked_presence == live
        far = [n for n in view if n not in live]
        assert far  # bounded links: most nodes are beyond them
        assert all(sync.presence[n] is view[n] for n in far)  # fails before: made anew
