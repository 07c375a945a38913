"""Device ids, venue ids, the role check and the TLS host name built from them (roles: ``model.roles``).

Certificates name a device by ``<device-id>.<venue-id>.invalid`` (a reserved TLD, so it can never resolve or
collide with a real host). Both ids must therefore be single DNS labels; host names compare without case, so
two device ids that differ only in case are the same device to TLS.
"""

from __future__ import annotations

import re

from meshpos.errors import TrustError
from meshpos.model.roles import NODE_ROLES, is_node_id

# One DNS label (at most 63 characters): long enough for a UUID.
_VENUE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def is_device_id(value: object) -> bool:
    """The certificate's device id is the node id: one rule (``model.roles``)."""
    return is_node_id(value)


def is_venue_id(value: object) -> bool:
    return isinstance(value, str) and _VENUE_ID.match(value) is not None


def check_device_id(value: str) -> str:
    if not is_device_id(value):
        raise TrustError(
            f"device id {value!r}: use 1-32 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return value


def check_venue_id(value: str) -> str:
    if not is_venue_id(value):
        raise TrustError(
            f"venue id {value!r}: use 1-63 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return value


def check_role(value: str) -> str:
    if value not in NODE_ROLES:
        raise TrustError(f"role {value!r}: must be one of {', '.join(NODE_ROLES)}")
    return value


def device_hostname(device_id: str, venue_id: str) -> str:
    """The name a client passes as ``server_hostname`` to reach ``device_id`` (never resolved by DNS)."""
    return f"{check_device_id(device_id)}.{check_venue_id(venue_id)}.invalid"
