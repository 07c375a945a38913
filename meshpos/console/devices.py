"""Every device of a venue as the console knows it, for Reports -> sync status per register.

The console is linked to the relay only, so it learns about the other devices from the relay's heartbeats:
``peers`` lists the nodes the relay is linked to, and ``mesh`` (sent to the console only) gives each one's
role and pending count. :class:`DeviceView` remembers when it last heard of each device, so a register
that is out of reach stays listed; the database adds what it holds from each register (receipts, and when
its last record arrived), so a register that sold before this console process started is listed too.

Console processes sharing one PostgreSQL store their sightings there (``ConsoleDB.record_sightings``) and
each one's report adds the others' (``shared``): a device reachable through a relay linked to another
process is reachable here too, so every process shows the same status.

**Changed** (nineteenth session, signed): a device's pending count is taken only from a relay that is linked
to it (``peers``: its own heartbeat, which the link's mTLS authenticates). A device beyond the
relay's links reaches it as a far record, passed on by other devices, and its pending count is
signed by nobody: one enrolled device forged a register's record one seq ahead saying "pending 0",
and the console showed that register's unsent sales as uploaded. Such a count is shown as told
(``pending_told``), never as ``pending``, which is None (unknown) for it: the status is never more
optimistic than what the console can vouch for (``tests/outside/test_forged_far_pending.py``).

**Changed** (open rules, rules, the twentieth session): a register knocking with an old (rotated) venue
token showed only as not reachable, though it says "wrong venue token" itself. A knock whose proof names
its device (``RelayAdmission.knocking``: of this venue, valid, not revoked, signed over the token it
presented) now shows that device ``refused: "wrong venue token"`` until it is heard again; nothing else
it sends is taken (no pending count, not reachable) (``tests/outside/test_old_venue_token_shown.py``).

**Changed** (shifts, the twenty-first session): a register's row says ``shift_open_since`` (the day its
oldest open shift opened on, when before today's business day: ``console/open_shifts.py``), as the
register's own status does; the manager at the console did not see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from meshpos.sync import Heartbeat

CONSOLE_NODE = "console"  # the console's own node id in the relays' ``peers``
MAX_REMEMBERED = 1024  # devices remembered per venue: a misbehaving relay cannot grow this forever


@dataclass(frozen=True, slots=True)
class Sighting:
    """One device as the relays' heartbeats showed it at ``heard`` (wall-clock seconds)."""

    role: str | None  # None: listed by a relay that does not send ``mesh`` (an older version)
    heard: float
    via: str  # the relay the console heard it through (itself for a relay)
    pending: int | None
    relay: bool
    uplink: bool
    #: a far device's pending count as its far record told the relay (no device's word vouches for
    #: it); None when ``pending`` is its own heartbeat's. Not stored (``ConsoleDB.record_sightings``)
    told: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """One row of the console's sync status (JSON: ``registers[device id]``)."""

    role: str | None  # "register" or "kds"; None when not known yet
    reachable: bool  # the console hears about it right now: it is a relay, or linked to one
    via: str | None  # the relay it is reachable through (its own id when it is the relay)
    relay: bool
    uplink: bool
    #: its changes the console does not hold yet; None: not reachable, or not vouched (``pending_told``)
    pending: int | None
    #: beyond the relay's links: the count its far record said, passed on by other devices and signed
    #: by none (a forger's "0" as well as its own): shown as told, never read as ``pending``
    pending_told: int | None
    last_heard_s: float | None  # seconds since the console last heard of it (None: not this run)
    #: why the console refuses it, when it knocked since it was last reachable ("wrong venue token":
    #: its proof named it, ``RelayAdmission.knocking``); None: not refused, or reachable now
    refused: str | None
    receipts: int  # receipts from it the console holds
    last_record_ms: int | None  # console time its newest record arrived (None: nothing yet)
    last_record_s: float | None  # the same, as seconds ago
    #: the business day its oldest open shift opened on, when before today's: open past its day
    #: (``console/open_shifts.py``); None: no shift open since an earlier day
    shift_open_since: str | None = None


def reachable(presence: Mapping[str, Heartbeat], now: float) -> dict[str, Sighting]:
    """The devices the live relays' heartbeats name right now: the relays, then what they link to."""
    relays = {n: hb for n, hb in sorted(presence.items()) if hb.role != "console"}
    out = {
        node: Sighting(hb.role, now, node, sum(hb.pending.values()), hb.relay, hb.uplink)
        for node, hb in relays.items()
    }
    for relay, hb in relays.items():
        for node in sorted({*hb.peers, *hb.mesh}):
            if node == CONSOLE_NODE:
                continue
            if node in out and (out[node].pending is not None or node not in hb.peers):
                continue  # (a relay linked to it, after one that told a far record's count: ours)
            summary = hb.mesh.get(node)
            role = summary.role if summary is not None else None
            told = summary.pending if summary is not None else None
            if node in hb.peers:  # linked to the relay: its own heartbeat's count
                out[node] = Sighting(role, now, relay, told, False, False)
            else:  # a far record's, any hop's word: unknown (``told`` only)
                out[node] = Sighting(role, now, relay, None, False, False, told)
    return out


class DeviceView:
    """What one venue's relays told this console about every device, remembered while it runs."""

    def __init__(self) -> None:
        self._seen: dict[str, Sighting] = {}
        self._refused: dict[str, tuple[str, float]] = {}  # device -> why, when it last knocked

    def refused(self, device: str, why: str, now: float) -> None:
        """``device`` knocked and was refused for ``why`` (its name proven, nothing else taken)."""
        self._refused.pop(device, None)
        self._refused[device] = why, now
        if len(self._refused) > MAX_REMEMBERED:  # (the oldest knock first: insertion order)
            del self._refused[next(iter(self._refused))]

    def observe(self, presence: Mapping[str, Heartbeat], now: float) -> dict[str, Sighting]:
        live = reachable(presence, now)
        for node, sighting in live.items():
            old = self._seen.get(node)
            if sighting.role is None and old is not None and old.role is not None:
                sighting = replace(sighting, role=old.role)  # keep what an earlier relay said
            self._seen[node] = sighting
        if len(self._seen) > MAX_REMEMBERED:
            for node in sorted(self._seen, key=lambda n: self._seen[n].heard)[:-MAX_REMEMBERED]:
                del self._seen[node]
        return live

    def report(
        self,
        presence: Mapping[str, Heartbeat],
        stored: Sequence[Mapping[str, Any]],
        now: float,
        shared: Mapping[str, Sighting] | None = None,
        fresh_s: float = 0.0,
        open_since: Mapping[str, str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Every known device: reachable now or heard of before, or with records at the console.
        ``shared``: what the other console processes heard, reachable when heard within ``fresh_s``;
        ``open_since``: register -> the day its shift open past its day opened on."""
        live = self.observe(presence, now)
        others = shared or {}
        for node, sighting in others.items():
            if node not in live and now - sighting.heard <= fresh_s:
                live[node] = sighting
        rows = {str(r["register"]): r for r in stored}
        out = {}
        overdue = open_since or {}
        for node in sorted({*self._seen, *rows, *others, *self._refused, *overdue}):
            current, row = live.get(node), rows.get(node)
            seen = max(
                (s for s in (self._seen.get(node), others.get(node)) if s is not None),
                key=lambda s: s.heard,
                default=None,
            )
            last_ms = int(row["last_record_ms"]) if row is not None else None
            why, knocked = self._refused.get(node, (None, 0.0))
            if current is not None or (seen is not None and seen.heard > knocked):
                why = None  # heard since it knocked: whatever it holds now works
            role = seen.role if seen is not None else None
            out[node] = asdict(
                DeviceStatus(
                    role=role if role is not None else ("register" if row is not None else None),
                    reachable=current is not None,
                    via=current.via if current is not None else None,
                    relay=current is not None and current.relay,
                    uplink=current is not None and current.uplink,
                    pending=current.pending if current is not None else None,
                    pending_told=current.told if current is not None else None,
                    last_heard_s=round(now - seen.heard, 1) if seen is not None else None,
                    refused=why,
                    receipts=int(row["receipts"]) if row is not None else 0,
                    last_record_ms=last_ms,
                    last_record_s=round(max(0.0, now - last_ms / 1000), 1)
                    if last_ms is not None
                    else None,
                    shift_open_since=overdue.get(node),
                )
            )
        return out
