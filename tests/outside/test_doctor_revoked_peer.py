"""Found from the outside: a kitchen display whose register was revoked (``meshpos revoke R1``) went gray,
and ``meshpos doctor`` on it said of R1 "reachable over mutual TLS ..., but the running node has no live
link to it -> see both nodes' logs; it may have just started". The node knew why (R1 is on its
deny-list); now the doctor says so and what to do. Real ``meshpos node`` processes finding each other
by mDNS on loopback addresses, the doctor as an operator runs it."""

from __future__ import annotations

import random
from pathlib import Path

from meshpos.harness.wait import wait_for

from ..doctor.test_doctor_processes import doctor, finding
from ..mesh.kit import NodeProcess, make_device, make_venue


def test_the_doctor_names_a_revoked_peer(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    prefix = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}"
    nodes: list[NodeProcess] = []
    try:
        for name, role, octet in (("R1", "register", 21), ("K1", "kds", 22)):
            config = make_device(
                authority, tmp_path, name, role=role, host=f"{prefix}.{octet}",
                heartbeat_interval=0.5,
            )  # fmt: skip
            nodes.append(NodeProcess(config, tmp_path / f"{name}.log").start())
        _, k1 = nodes
        wait_for(lambda: "R1" in k1.status()["peers"], 60, "K1 linked to R1", on=[k1.events])
        k1.call("POST", "/api/denylist", dict(authority.revoke("R1", "stolen")))
        wait_for(lambda: "R1" not in k1.status()["peers"], 30, "K1 drops R1", on=[k1.events])

        _, report = doctor(tmp_path / "K1.toml", seconds=3.0)
        peer = finding(report, "peer R1")
        assert peer["level"] == "warning", peer
        assert "R1 is revoked" in peer["message"], peer
        assert "new id" in peer["fix"], peer
    finally:
        for node in nodes:
            node.kill()
