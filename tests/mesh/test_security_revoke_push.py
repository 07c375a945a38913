"""``meshpos revoke DEVICE --venue DIR --config node.toml`` (or ``--node URL --token-file F``) against real
node processes: the running node enforces the revocation at once, the mesh spreads it, and the revoked
device's links are refused afterwards; every way it can go wrong is one line with exit code 2."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from meshpos.config import load_config
from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER
from meshpos.trust import init_venue

from ..trust.helpers import issue_identity
from .kit import NodeProcess, make_device, make_venue


def meshpos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshpos", *args], capture_output=True, text=True, timeout=60
    )


def refused(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Assert a one-line refusal (exit code 2, no traceback) containing every fragment. (Signing logs a
    warning first: ``revoked device ...``.)"""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("meshpos: error: ")]
    assert len(errors) == 1, result.stderr
    assert all(f in errors[0] for f in fragments), (fragments, result.stderr)
    return errors[0]


@pytest.mark.slow
def test_revoke_pushed_to_a_running_node_reaches_the_mesh_and_the_device_is_refused(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    venue_dir = str(authority.directory)
    prefix = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}"
    names = ["R1", "R2", "R3", "R4"]
    configs = {
        name: make_device(authority, tmp_path, name, host=f"{prefix}.{i}", heartbeat_interval=0.3)
        for i, name in enumerate(names, start=11)
    }
    nodes: dict[str, NodeProcess] = {}
    try:
        for name in names[:3]:  # R4 is enrolled but never started
            peers = [
                f"--peer={p}@{prefix}.{11 + names.index(p)}:{n.port}" for p, n in nodes.items()
            ]
            process = NodeProcess(
                configs[name], tmp_path / f"{name}.log", ["--no-discovery", *peers]
            )
            nodes[name] = process.start()
        r1, r2, r3 = nodes.values()

        def linked(node: NodeProcess, *others: str) -> bool:
            peers = node.status()["peers"]
            return all(peers.get(o) is True for o in others)

        wait_for(
            lambda: all(linked(n, *(set(nodes) - {k})) for k, n in nodes.items()),
            20,
            "mesh",
            on=[n.events for n in nodes.values()],
        )
        for node in nodes.values():
            node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 1_000})
        before = r2.sell(CASHIER, ["burger"])
        wait_for(
            lambda: before["id"] in r3.receipt_ids(),
            10,
            "R2's sale on R3 while trusted",
            on=[r3.events],
        )

        # the ways it can go wrong, each refused before anything reaches a node
        refused(meshpos("revoke", "no good!", "--venue", venue_dir, "--config", str(configs["R1"])),
                "device id 'no good!'")  # fmt: skip
        refused(meshpos("revoke", "R9", "--venue", venue_dir, "--config", str(configs["R1"])),
                "never issued")  # fmt: skip
        print(refused(meshpos("revoke", "R3", "--venue", venue_dir, "--config", str(configs["R4"])),
                      "node R4 is not running"))  # fmt: skip
        assert "R3" not in authority.revoked()  # refused before it was signed
        token_file = load_config(configs["R1"], env={}).data_dir / "api.token"
        refused(meshpos("revoke", "R2", "--venue", venue_dir, "--node", r1.api),
                "--node needs --token-file")  # fmt: skip
        wrong_token = tmp_path / "wrong.token"
        wrong_token.write_text("not-the-token\n")
        stolen = ["R2", "--venue", venue_dir, "--reason", "till stolen"]
        print(refused(meshpos("revoke", *stolen, "--node", r1.api, "--token-file", str(wrong_token)),
                      "refused the API token"))  # fmt: skip
        print(refused(meshpos("revoke", *stolen, "--node", "http://127.0.0.1:9",
                              "--token-file", str(token_file)), "does not answer",
                      "run the same command again"))  # fmt: skip
        other = init_venue(tmp_path / "other", "Other venue")
        issue_identity(other, "R3")
        elsewhere = meshpos(
            "revoke", "R3", "--venue", str(other.directory), "--config", str(configs["R1"])
        )
        print(refused(elsewhere, "wrong_venue", f"belongs to venue {authority.venue_id}"))
        assert r1.call("GET", "/api/denylist")["revoked"] == []
        assert all(linked(n, *(set(nodes) - {k})) for k, n in nodes.items())

        # the real thing, through R1's local API; `venue revoke` is the same command
        done = meshpos(
            "venue", "revoke", *stolen, "--node", r1.api, "--token-file", str(token_file)
        )
        assert done.returncode == 0, done.stderr
        assert "error" not in done.stderr
        entry_line, pushed = done.stdout.splitlines()
        entry = json.loads(entry_line)
        assert (entry["device"], entry["reason"]) == ("R2", "till stolen")
        assert entry == authority.revoked()["R2"]  # the one it had recorded for the unreachable try
        assert pushed.startswith(f"pushed to R1 at {r1.api}: R2 is revoked on R1")
        print(pushed)
        took = wait_for(
            lambda: "R2" not in r1.status()["peers"] and "R2" not in r3.status()["peers"],
            10,
            "R1 and, through the mesh, R3 drop R2",
            on=[r1.events, r3.events],
        )
        print(f"R2 cut off by R1 and R3 {took:.2f} s after the push")
        assert r3.call("GET", "/api/denylist")["revoked"] == [entry]
        assert linked(r1, "R3")
        assert linked(r3, "R1")

        # R2 keeps redialling (it has R1 as a static peer, R3 dials it): every link is refused, and
        # nothing it sells from now on reaches anyone
        wait_for(
            lambda: (
                r1.status()["refusals"].get("revoked", 0) >= 1
                and r3.status()["refusals"].get("revoked", 0) >= 1
            ),
            10,
            "R1 and R3 refuse R2's links",
        )
        after = r2.sell(CASHIER, ["fries"])
        seen = r1.status()["refusals"]["revoked"]
        wait_for(lambda: r1.status()["refusals"]["revoked"] > seen + 1, 10, "R2 redials, refused")
        assert after["id"] not in r1.receipt_ids() | r3.receipt_ids()
        assert "R2" not in r1.status()["peers"]

        # pushing again is harmless: the same entry, "already" enforced
        again = meshpos("revoke", "R2", "--venue", venue_dir, "--config", str(configs["R3"]))
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout.splitlines()[0]) == entry
    finally:
        for node in nodes.values():
            node.kill()
