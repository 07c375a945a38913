"""meshpos.relay: the elected relay's link to the console, and the uplink probe every register runs."""

from meshpos.relay.link import ConsoleLink, Probe, probe_console

__all__ = ["ConsoleLink", "Probe", "probe_console"]
