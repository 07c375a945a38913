"""Who a device is in a venue: its role, and the rule for its id, which the certificates, the configuration,
the mDNS advert and the rules share.

A role is certified (trust), announced in the hello (sync) and decides what a peer may write (sync rules);
the console is a role too, but it runs as the console, never as a node (docs/architecture.md (Security)).
A node's id is its certificate's device id, so one rule serves both.
"""

from __future__ import annotations

import re
from typing import TypeGuard

ROLES: tuple[str, ...] = ("register", "kds", "console")
#: what a node runs as and a device certificate names; the console has its own certificate
NODE_ROLES: tuple[str, ...] = tuple(role for role in ROLES if role != "console")
#: a token for a stock Yjs client (docs/api.md, Yjs) names what it may write as a node role does, or
#: ``reader``: it may write nothing (its writes get the y-protocols permission-denied message)
READER = "reader"
TOKEN_ROLES: tuple[str, ...] = (*NODE_ROLES, READER)

#: a node id (= its device id): one DNS label of 1-32 characters, so it fits a certificate's host name
NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


def is_node_id(value: object) -> TypeGuard[str]:
    """Whole-string match (a trailing newline is not an id)."""
    return isinstance(value, str) and NODE_ID.fullmatch(value) is not None
