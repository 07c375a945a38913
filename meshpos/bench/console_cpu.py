"""What limited a ``bench console`` upload, measured by each process's own CPU (``/proc``).

On a small machine shared with other work, receipts per second measure whichever process ran out of
core first: a console, the relays (the bench's own process), PostgreSQL, or the machine itself. The
bench reports each one's share and names the saturated one, so a ratio is read against what it
measured; the consoles' CPU per receipt and receipts per console-CPU-second are their capacity, which
the rest of the machine does not change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SATURATED_MS_PER_S = 850.0  # a process at 0.85 of a core or more is the one the others wait for
MACHINE_BUSY_SHARE = 0.9  # every core this busy: nothing could have gone faster, whoever used it


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _machine_busy_s() -> float:
    """Seconds every core of the machine spent busy since boot (``/proc/stat``: not idle, not iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _processes() -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit()]


def postgres_cluster(url: str) -> set[int]:
    """The processes of the PostgreSQL cluster serving ``url``'s database: the postmaster of the
    backends whose title names that database, and every child of it (writers, checkpointer). Other
    clusters on the machine (other sessions' tests) are not counted."""
    dbname = urlsplit(url).path.lstrip("/")
    postmasters: set[int] = set()
    children: dict[int, list[int]] = {}
    for pid in _processes():
        try:
            if not Path(f"/proc/{pid}/comm").read_text().startswith("postgres"):
                continue
            parent = _ppid(pid)
            children.setdefault(parent, []).append(pid)
            title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            if dbname and dbname in title.replace("\0", " ").split():
                postmasters.add(parent)
        except (OSError, ValueError, IndexError):  # ended meanwhile
            continue
    return postmasters | {c for p in postmasters for c in children.get(p, [])}


def _cpu_of(pids: set[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        try:
            found[pid] = cpu_s(pid)
        except (OSError, ValueError, IndexError):
            continue
    return found


@dataclass
class Used:
    """ms of CPU per second of the upload."""

    consoles: list[float]
    relays: float
    postgres: float
    machine: float


class CpuMeter:
    """Started as an upload starts; ``read`` when it ends."""

    def __init__(self, consoles: list[int], url: str) -> None:
        self.consoles = consoles
        self.url = url
        self.postgres = _cpu_of(postgres_cluster(url))
        self.before = [cpu_s(p) for p in (*consoles, os.getpid())]
        self.machine = _machine_busy_s()

    def read(self, took: float) -> Used:
        after = [cpu_s(p) for p in (*self.consoles, os.getpid())]
        used = [round((a - b) * 1000 / took, 1) for a, b in zip(after, self.before, strict=True)]
        now = _cpu_of(postgres_cluster(self.url) | set(self.postgres))
        # a backend that started during the upload counts whole; one that ended is lost (rare)
        postgres = sum(now[p] - self.postgres.get(p, 0.0) for p in now)
        return Used(
            consoles=used[:-1],
            relays=used[-1],
            postgres=round(postgres * 1000 / took, 1),
            machine=round((_machine_busy_s() - self.machine) * 1000 / took, 1),
        )


def limits(used: Used, per_console: list[int], receipts: int, took: float) -> dict[str, Any]:
    """The figures that say what limited the upload (see the module's docstring)."""
    cpus = os.cpu_count() or 1
    ours = sum(used.consoles) + used.relays + used.postgres
    named = {f"console-{n}": ms for n, ms in enumerate(used.consoles)}
    named |= {"relays": used.relays, "postgres": used.postgres}
    busiest = max(named, key=lambda k: named[k])
    if named[busiest] >= SATURATED_MS_PER_S:
        limited_by = busiest
    elif used.machine >= MACHINE_BUSY_SHARE * cpus * 1000:
        limited_by = "machine"
    else:
        limited_by = "waiting"
    console_s = sum(used.consoles) * took / 1000

    def per_receipt(ms_per_s: float, count: int) -> float:
        return round(ms_per_s * took / max(count, 1), 3)

    return {
        "limited_by": limited_by,
        # fractions of one core while uploading; "other" is the machine's busy share less ours
        "cpu_share": {
            "consoles": [round(ms / 1000, 2) for ms in used.consoles],
            "relays": round(used.relays / 1000, 2),
            "postgres": round(used.postgres / 1000, 2),
            "machine": round(used.machine / 1000, 2),
            "other": round(max(used.machine - ours, 0.0) / 1000, 2),
            "cpus": cpus,
        },
        "console_cpu_ms_per_receipt": [
            per_receipt(ms, n) for ms, n in zip(used.consoles, per_console, strict=True)
        ],
        "relays_cpu_ms_per_receipt": per_receipt(used.relays, receipts),
        "postgres_cpu_ms_per_receipt": per_receipt(used.postgres, receipts),
        "receipts_per_console_cpu_s": round(receipts / max(console_s, 1e-9), 1),
    }
