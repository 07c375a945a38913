"""The roles a device has in a venue: the one list that the certificates, the wire and the rules share.

A role is certified (trust), announced in the hello (sync) and decides what a peer may write (sync rules);
the console is a role too, but it runs as the console, never as a node (docs/architecture.md (Security)).
"""

from __future__ import annotations

ROLES: tuple[str, ...] = ("register", "kds", "console")
#: what a node runs as and a device certificate names; the console has its own certificate
NODE_ROLES: tuple[str, ...] = tuple(role for role in ROLES if role != "console")
