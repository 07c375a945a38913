"""A stalled node's own signed word, between real processes (issue 18, the twenty-second session,
part ``stallword``: sync/_stalls.py, sync/_stall_words.py).

Seven ``meshpos node`` processes and a console on loopback addresses (``test_gone_notices_mesh``'s
venue: real mDNS, mTLS websockets, every node its own device key of the venue CA). One node is
stopped (SIGSTOP: its loop does not run, as in a GC pause or a suspended laptop) until the nodes
beyond its links hold it unreachable by its neighbours' signed notices (true: it was silent), then
continued; once it is back everywhere, it is killed -9. On main its first records after the stop
took the notices back as lies: the far nodes distrusted its neighbours about it for 5 minutes, so
their notices of its real death were refused and moved nothing (``gone_taken_back``, logged by
every node that refused one; the far nodes held it unreachable by the notices of neighbours they
had not distrusted, when there were some). Now its signed word that it did not run excuses them:
no node refuses a notice about it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from meshpos.harness.wait import wait_for
from meshpos.sync._presence import UNREACHABLE

from .kit import NodeProcess
from .test_gone_notices_mesh import seven_nodes
from .test_topology_mesh import _settled


def _far(nodes: list[NodeProcess], node: NodeProcess) -> list[NodeProcess]:
    name = node.config.stem
    return [p for p in nodes if p is not node and name not in p.status()["peers"]]


def _unreachable(nodes: list[NodeProcess], name: str) -> bool:
    return all(p.status()["problems"].get(name) == UNREACHABLE for p in nodes)


def test_a_node_stalled_then_killed_is_held_unreachable_by_its_neighbours_notices(
    tmp_path: Path,
) -> None:
    with seven_nodes(tmp_path) as (_, _, nodes):
        for proc in nodes:
            proc.start()
        wait_for(
            lambda: _settled(nodes), 90, "every node on 2..4 links", on=[p.events for p in nodes]
        )
        stalled = max(nodes, key=lambda p: len(_far(nodes, p)))
        name = stalled.config.stem
        far = _far(nodes, stalled)
        assert far, "every node is linked to it: no far node to test"
        rest = [p for p in nodes if p is not stalled]
        on = [p.events for p in rest]
        assert stalled.proc is not None
        os.kill(stalled.proc.pid, signal.SIGSTOP)
        try:  # its neighbours time it out and sign it gone: the far nodes take their word
            wait_for(
                lambda: _unreachable(far, name), 30, f"far nodes hold {name} unreachable", on=on
            )
        finally:
            os.kill(stalled.proc.pid, signal.SIGCONT)
        everyone = [p.events for p in nodes]  # (its own events announce the links it makes)
        wait_for(
            lambda: (
                _settled(nodes)
                and not any(p.status()["problems"].get(name) == UNREACHABLE for p in rest)
            ),
            60,
            f"{name} back everywhere",
            on=everyone,
        )
        assert "did not run for" in stalled.log.read_text(), "its stall was not found"
        far = _far(nodes, stalled)
        assert far, "every node is linked to it now: no far node to test"
        stalled.kill()  # its links close at once: its neighbours sign it gone again
        wait_for(lambda: _unreachable(far, name), 30, f"far nodes hold {name} unreachable", on=on)
        # its record times out everywhere (a far record's timeout: seconds), long after every
        # notice of its death was passed on (three beats) and taken, or refused
        wait_for(
            lambda: not any(name in p.status()["problems"] for p in rest),
            60,
            f"{name} timed out everywhere",
            on=on,
        )
        refused = [p.config.stem for p in rest if "gone_taken_back" in p.log.read_text()]
        assert refused == [], f"its neighbours' true notices were taken for lies on {refused}"
