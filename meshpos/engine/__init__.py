"""The durable sync engine: documents, their store and their synchronizer, joined by one pump.

See docs/architecture.md (Engine). The node and the console's venue hubs both run on it.
"""

from meshpos.engine.changes import Changed, ChangeFeed, Subscription

__all__ = ["ChangeFeed", "Changed", "Subscription"]
