"""Before a node, a console or a pairing server touches anything: are the addresses and ports it is told to listen on usable?

A port held by another program, or a ``listen_host`` the machine does not have, used to surface as
``unexpected error: OSError: [Errno 98] ...`` after the node had made its data dir and ``node.db``. The
check binds each fixed address the way the servers will (``SO_REUSEADDR``, so a port a stopped node left
in TIME_WAIT is not refused), closes the probe at once, and raises one ConfigError naming the setting,
where it came from and the value. A program that takes the port between the check and the start still
fails, with the plainer message ``main`` prints for any OSError.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from meshpos.errors import ConfigError


def machine_addresses() -> list[str]:
    """The IP addresses of this machine's interfaces (for the message that refuses another one)."""
    import ifaddr

    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            address = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            if address not in found:
                found.append(address)
    return found


def bind_problem(host: str, port: int) -> OSError | None:
    """The OSError a server binding ``host:port`` would meet, or None (the probe is closed at once).
    A host name is resolved as the server would (``socket.gaierror`` when it cannot be)."""
    try:
        address = str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        try:
            address = str(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0])
        except OSError as exc:
            return exc
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            return exc
    return None


def check_listen(
    where: str, places: list[tuple[str, str, str, int]], *, any_port: bool = True
) -> None:
    """``places``: (host setting, port setting, host, port). Raise one ConfigError for the first
    address or port that cannot be listened on; ``where`` names the file or flags they came from;
    ``any_port``: 0 (any free port) is worth suggesting."""
    clash = apart_problem(places)
    if clash is not None:
        raise ConfigError(f"{where}: {clash} (nothing was changed)")
    for host_name, port_name, host, port in places:
        if not 0 <= port <= 65535:  # the bind raised OverflowError: "unexpected error"
            raise ConfigError(
                f"{where}: {port_name} {port}: a port is a whole number from 0 to 65535 "
                "(nothing was changed)"
            )
        exc = bind_problem(host, port)
        if exc is None:
            continue
        if isinstance(exc, socket.gaierror):
            raise ConfigError(
                f"{where}: {host_name} {host!r}: not an IP address, nor a name this machine can "
                f"resolve ({exc.strerror}) (nothing was changed)"
            )
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ConfigError(
                f"{where}: {host_name} {host!r} is not an address of this machine; its addresses "
                f"are {', '.join(machine_addresses())} (nothing was changed)"
            )
        if exc.errno == errno.EADDRINUSE:
            zero = " (0: any free port)" if any_port else ""
            raise ConfigError(
                f"{where}: {port_name} {port} on {host} is in use by another program; stop it, or "
                f"set {port_name} to a free port{zero} (nothing was changed)"
            )
        raise ConfigError(
            f"{where}: cannot listen on {host}:{port} ({host_name}, {port_name}): {exc.strerror} "
            "(nothing was changed)"
        )


_EVERY_ADDRESS = ("0.0.0.0", "::", "[::]")


def apart_problem(places: list[tuple[str, str, str, int]]) -> str | None:
    """Two servers of one program told the same fixed port on one address (the doctors ask too): the
    probe of each alone passes, then the second bind failed with ``unexpected error: OSError: [Errno
    98]`` (``meshpos console --port 8790 --api-port 8790``, or ``port`` and ``api_port`` alike in
    node.toml). ``places`` as for :func:`check_listen`."""
    for i, (_, first_port, first_host, port) in enumerate(places):
        for _, second_port, second_host, other in places[i + 1 :]:
            wildcard = first_host in _EVERY_ADDRESS or second_host in _EVERY_ADDRESS
            same_host = first_host == second_host or wildcard
            if port and port == other and same_host:
                return (
                    f"{first_port} and {second_port} are both {port}: each needs a port of its own"
                )
    return None
