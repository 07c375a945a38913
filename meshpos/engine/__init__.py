"""The durable sync engine: documents, their store and their synchronizer, joined by one pump.

See docs/architecture.md (Engine). The node and the console's venue hubs both run on it.
"""

from meshpos.engine.changes import Changed, ChangeFeed, Subscription
from meshpos.engine.closing import DayClosed, DayOpened
from meshpos.engine.engine import (
    MAX_MESSAGE_SIZE,
    Committed,
    Engine,
    EngineEvent,
    Rejection,
)
from meshpos.engine.links import LinkClosed, LinkOpened, LinkRefused
from meshpos.engine.stores import DocumentStore, StoreDocuments

__all__ = [
    "MAX_MESSAGE_SIZE",
    "ChangeFeed",
    "Changed",
    "Committed",
    "DayClosed",
    "DayOpened",
    "DocumentStore",
    "Engine",
    "EngineEvent",
    "LinkClosed",
    "LinkOpened",
    "LinkRefused",
    "Rejection",
    "StoreDocuments",
    "Subscription",
]
