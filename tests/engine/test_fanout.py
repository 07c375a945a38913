"""Engine events go only to the listeners that handle them (issue 18, fanout).

Each service names the event types it handles when it subscribes; the engine hands an event to those
listeners only, in the order they subscribed, and lets a listener's exception out as before. The table
below is who hears what on a register, a kitchen display and a console hub: every type a listener
type-checks in its handler is in its row (a listener missing an event it handles would be a lost
update of its state)."""

from __future__ import annotations

import typing
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from meshpos.console import open_console_db
from meshpos.console.hub import VenueHub
from meshpos.console.tokens import hash_token, new_venue_token
from meshpos.engine import (
    Committed,
    DayClosed,
    DayOpened,
    Engine,
    EngineEvent,
    LinkClosed,
    LinkOpened,
    LinkRefused,
)
from meshpos.model.sample import CASHIER
from meshpos.node import Node
from meshpos.node_adapters import make_node
from meshpos.register.days import DayCloser
from meshpos.register.kitchen_acks import KitchenAcks
from meshpos.register.last_z import LastZ
from meshpos.register.numbering import ReceiptCounter
from meshpos.register.status import StatusService
from meshpos.relay.service import RelayService
from meshpos.sync import (
    ClientIdAlarm,
    DocumentChanged,
    PeerClosed,
    PeerJoined,
    PeerLive,
    UpdateRejected,
)
from meshpos.trust.revocations import Revocations
from tests.engine.test_engine import Recording, engine, stop_here
from tests.web.kit import make_configs

ALL_TYPES: tuple[type, ...] = typing.get_args(EngineEvent)

#: the listeners (their class) and the event types each hears
HEARS: dict[type, set[type]] = {
    DayCloser: {DocumentChanged, DayOpened, DayClosed},
    ReceiptCounter: {Committed, PeerLive},
    LastZ: {Committed},
    KitchenAcks: {Committed},
    StatusService: {
        DocumentChanged,
        DayClosed,
        DayOpened,  # (issue 18, rounds: a day loaded is read again for its pending count)
        PeerJoined,
        PeerLive,
        PeerClosed,
        LinkClosed,
    },
    RelayService: {LinkOpened, PeerLive, LinkClosed, LinkRefused},
    Revocations: {DocumentChanged, Committed},
    Node: {DayClosed},
    VenueHub: {
        DocumentChanged,
        Committed,
        DayClosed,
        PeerJoined,
        LinkClosed,
        PeerClosed,
        UpdateRejected,
        ClientIdAlarm,
    },
}
HANDLER = {cls: "_on_engine_event" if cls is Node else "_on_event" for cls in HEARS}


class Heard:
    """Every call into a listener class's handler, recorded; ``deaf``: not passed on to the handler
    (synthetic events carry no fields)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[type, type]] = []
        self.deaf = False
        for cls, name in HANDLER.items():
            monkeypatch.setattr(cls, name, self._spy(cls, getattr(cls, name)))

    def _spy(self, cls: type, handler: Callable[..., None]) -> Callable[..., None]:
        def spy(listener: object, event: EngineEvent) -> None:
            self.calls.append((cls, type(event)))
            if not self.deaf:
                handler(listener, event)

        return spy

    def by_type(self) -> dict[type, set[type]]:
        heard: dict[type, set[type]] = {}
        for cls, kind in self.calls:
            heard.setdefault(cls, set()).add(kind)
        return heard


def blank(kind: type) -> EngineEvent:
    """An event of ``kind`` with no fields set (only its type is dispatched on)."""
    event: EngineEvent = object.__new__(kind)
    return event


def emit_every_type(engines: list[Engine], heard: Heard) -> dict[type, set[type]]:
    heard.calls.clear()
    heard.deaf = True
    try:
        for e in engines:
            for kind in ALL_TYPES:
                e._emit(blank(kind))
    finally:
        heard.deaf = False
    return heard.by_type()


@pytest.fixture
def heard(monkeypatch: pytest.MonkeyPatch) -> Heard:
    return Heard(monkeypatch)


async def test_each_listener_hears_exactly_the_event_types_of_its_row(
    tmp_path: Path, heard: Heard
) -> None:
    """Fails before: every listener heard every one of the event types."""
    register, kds = make_configs(tmp_path, [("R1", "register"), ("K1", "kds")])
    db = await open_console_db(f"sqlite:///{tmp_path / 'console.db'}")
    try:
        await db.add_venue("cafe-1", "Café Mesh", hash_token(new_venue_token()))
        hub = VenueHub("cafe-1", db, max_message_size=4 * 2**20, materialise_delay=0.0)
        async with make_node(register, discovery=False) as r, make_node(kds, discovery=False) as k:
            engines = [r._run().engine, k._run().engine, hub.engine]
            assert emit_every_type(engines, heard) == HEARS
            counts = Counter(heard.calls)
        assert counts[(LastZ, Committed)] == 1  # a register has one; a kitchen display none
        assert counts[(KitchenAcks, Committed)] == 1  # and the other way round
        assert counts[(StatusService, DocumentChanged)] == 2  # each device has its own
    finally:
        await db.close()


async def test_a_write_is_handed_to_three_listeners_per_event_not_to_all(
    tmp_path: Path, heard: Heard
) -> None:
    """Fails before: the change and its commit each went to all seven listeners of a register."""
    (config,) = make_configs(tmp_path, [("R1", "register")])
    async with make_node(config, discovery=False) as node:
        await node.write(lambda venue, at: venue.open_shift_now(CASHIER, 0, at))
        heard.calls.clear()
        for _ in range(5):
            await node.write(lambda venue, at: venue.open_order(CASHIER, at))
        counts = Counter(heard.calls)
    changes = counts[(StatusService, DocumentChanged)]
    commits = counts[(LastZ, Committed)]
    assert changes >= 5
    assert commits >= 1
    assert counts == {
        (DayCloser, DocumentChanged): changes,
        (StatusService, DocumentChanged): changes,
        (Revocations, DocumentChanged): changes,
        (ReceiptCounter, Committed): commits,
        (LastZ, Committed): commits,
        (Revocations, Committed): commits,
    }


async def test_listeners_hear_their_types_in_the_order_they_subscribed() -> None:
    e = await engine("A", Recording())
    heard: list[str] = []
    e.subscribe(lambda event: heard.append("all 1"))
    e.subscribe(lambda event: heard.append("committed"), Committed)
    e.subscribe(lambda event: heard.append("changed"), DocumentChanged)
    e.subscribe(lambda event: heard.append("all 2"))
    await e.write(lambda: stop_here(e).__setitem__("k", "v"))
    assert heard == ["all 1", "changed", "all 2", "all 1", "committed", "all 2"]
    heard.clear()
    e.subscribe(lambda event: heard.append("late"), Committed)  # the table takes it in
    e._emit(blank(Committed))
    e._emit(blank(DayClosed))
    assert heard == ["all 1", "committed", "all 2", "late", "all 1", "all 2"]


async def test_a_listener_that_raises_is_not_swallowed_and_stops_that_event() -> None:
    e = await engine("A", Recording())
    heard: list[str] = []

    def boom(event: EngineEvent) -> None:
        raise RuntimeError("listener failed")

    e.subscribe(lambda event: heard.append("first"), DayClosed)
    e.subscribe(boom, DayClosed)
    e.subscribe(lambda event: heard.append("after"), DayClosed)
    with pytest.raises(RuntimeError, match="listener failed"):
        e._emit(blank(DayClosed))
    assert heard == ["first"]
