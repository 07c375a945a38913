"""A gone notice marks a node "not reachable now" and no more (issue 18, gone).

The far table's rules, one by one (the mesh-level attacks: tests/outside/test_forged_gone_notice.py):
the mark is as of the seq held here, never the notice's; the record stays counted (``beats``, the
"n" of "on k of n devices") while it leaves the election (``uplinks``) and the topology (``roles``);
the node's next record takes the mark back as news; a record at or below the mark is held marked.
Each fails on main, where a notice dropped the record and held the node gone up to the notice's seq.
"""

from __future__ import annotations

from meshpos.sync._messages import FarRecord
from meshpos.sync._presence import UNREACHABLE, FarTable

HUGE = 2**52


def _record(seq: int, *, uplink: bool = True) -> FarRecord:
    return FarRecord("R3", "register", 5, uplink, False, seq)


def test_a_notice_with_a_huge_seq_marks_as_of_the_held_seq_and_the_next_record_takes_it_back() -> (
    None
):
    table = FarTable()
    table.learn(_record(10), now=0.0)
    assert table.gone("R3", HUGE, now=1.0)
    assert table.recently_gone(1.0, 3.0) == {"R3": 10}  # passed on as held, not the sender's word
    assert table.beats(()).keys() == {"R3"}  # still counted
    assert table.beats(())["R3"].problem == UNREACHABLE
    assert table.uplinks(1.0, 10.0) == []  # not a candidate
    assert "R3" not in table.roles()  # not a member of the topology
    assert not table.gone("R3", HUGE + 1, now=1.1)  # marked already: no news
    assert table.learn(_record(11), now=2.0)  # alive: news (passed on at once)
    assert not table.marked("R3")
    assert [r.node for r in table.uplinks(2.0, 10.0)] == ["R3"]
    assert table.beats(())["R3"].problem == ""


def test_a_notice_older_than_the_held_record_is_stale() -> None:
    table = FarTable()
    table.learn(_record(10), now=0.0)
    assert not table.gone("R3", 9, now=1.0)
    assert not table.marked("R3")


def test_a_record_at_or_below_the_mark_is_held_marked_and_counted() -> None:
    """A forger spread the node's record with a huge seq, then a notice at it: the node's own records
    (lower) are held marked once the forged one timed out, and keep the held one fresh before."""
    table = FarTable()
    table.learn(_record(HUGE), now=0.0)
    assert table.gone("R3", HUGE, now=0.5)
    table.learn(_record(12), now=5.0)  # the real one: kept fresh, still marked
    assert table.expire(10.0, timeout=6.0, remember=12.0) == []
    assert table.expire(20.0, timeout=6.0, remember=30.0) == ["R3"]
    table.learn(_record(13), now=20.5)  # held again, marked: counted, not passed on
    assert "R3" in table.beats(())
    assert table.marked("R3")
    assert "R3" not in table.records
