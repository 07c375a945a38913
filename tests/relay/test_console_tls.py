"""The console on TLS, with real processes on loopback: ``meshpos console --tls-cert --tls-key`` serves
``wss://`` to relays and ``https://`` to people; a relay whose ``console_ca_file`` names the CA that signed
the console's certificate uploads over it, and one that does not trust that CA is refused, says why in its
log, and uploads nothing. Bad TLS settings are one line each."""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from meshpos.harness.tls import console_tls, new_ca
from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER

from ..mesh.kit import ConsoleProcess, NodeProcess, make_device, make_venue


@dataclass(frozen=True)
class Tls:
    ca: Path  # the CA that signed the console's certificate
    cert: Path
    key: Path
    stranger: Path  # another CA, which did not


def make_tls(root: Path) -> Tls:
    """A CA and a console certificate for 127.0.0.1 and localhost signed by it, plus a stranger CA."""
    made = console_tls(root, "Test console CA")
    stranger = root / "stranger.pem"
    stranger.write_bytes(new_ca("Some other CA")[1].public_bytes(serialization.Encoding.PEM))
    return Tls(made.ca, made.cert, made.key, stranger)


def meshpos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshpos", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
def test_a_relay_uploads_to_a_console_over_wss_and_a_relay_without_its_ca_is_refused(
    tmp_path: Path,
) -> None:
    authority = make_venue(tmp_path)
    tls = make_tls(tmp_path)
    tls_args = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
    console = ConsoleProcess(tmp_path, [authority.directory], args=tls_args, ca_file=tls.ca)
    console.start()
    nodes: list[NodeProcess] = []
    try:
        url = str(console.ready["console"])
        assert url.startswith("wss://127.0.0.1:"), console.ready
        assert str(console.ready["api"]).startswith("https://127.0.0.1:"), console.ready
        prefix = f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}"
        common: dict[str, Any] = {
            "console_url": url,
            "console_token": authority.console_token,
            "heartbeat_interval": 0.5,
        }
        trusting = make_device(
            authority, tmp_path, "R1", host=f"{prefix}.11", console_ca_file=str(tls.ca), **common
        )
        doubting = make_device(
            authority,
            tmp_path,
            "R2",
            host=f"{prefix}.12",
            console_ca_file=str(tls.stranger),
            **common,
        )
        for name, config in (("R1", trusting), ("R2", doubting)):
            nodes.append(
                NodeProcess(config, tmp_path / f"{name}.log", args=["--no-discovery"]).start()
            )
        r1, r2 = nodes
        for node in nodes:
            node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 1_000})
        sold = r1.sell(CASHIER, ["burger", "fries"])
        r2.sell(CASHIER, ["fries"])

        took = wait_for(
            lambda: (
                [r["id"] for r in console.call("GET", f"/api/venues/{authority.venue_id}/receipts")]
                == [sold["id"]]
            ),
            20,
            "R1's receipt at the console over wss://",
        )
        print(f"\nR1 uploaded over wss:// in {took:.2f} s")
        wait_for(
            lambda: r1.status()["message"] == "All data is synced",
            10,
            "R1 all synced",
            on=[r1.events],
        )
        status = r1.status()
        assert (status["colour"], status["is_relay"], status["uplink"]) == ("green", True, True)

        # R2 trusts another CA: the TLS handshake fails, the log says so, nothing of it arrives
        wait_for(
            lambda: "the console's certificate is refused" in (tmp_path / "R2.log").read_text(),
            10,
            "R2 logs why the console is refused",
        )
        line = next(x for x in (tmp_path / "R2.log").read_text().splitlines() if "refused" in x)
        print(f"R2: {line}")
        assert "certificate verify failed" in line or "unable to get local issuer" in line
        status = r2.status()
        assert (status["colour"], status["uplink"], status["is_relay"]) == ("gray", False, False)
        assert status["pending"] > 0
        devices = console.call("GET", f"/api/venues/{authority.venue_id}/status")["registers"]
        assert set(devices) == {"R1"}
    finally:
        for node in nodes:
            node.kill()
        console.stop()


def test_bad_tls_settings_are_one_line_each(tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    half = meshpos("console", "--tls-cert", str(tls.cert), "--port", "0", "--api-port", "0")
    assert half.returncode == 2
    assert (
        half.stderr
        == "meshpos: error: --tls-cert and --tls-key go together: give both or neither\n"
    )
    swapped = meshpos(
        "console", "--tls-cert", str(tls.key), "--tls-key", str(tls.cert), "--db",
        f"sqlite:///{tmp_path / 'c.db'}",
    )  # fmt: skip
    assert swapped.returncode == 2
    assert "not a PEM certificate and its matching unencrypted key" in swapped.stderr
    assert not (tmp_path / "c.db").exists()  # refused before anything was opened

    authority = make_venue(tmp_path)
    settings: dict[str, Any] = {"console_token": authority.console_token}
    plain = make_device(authority, tmp_path, "R1", console_url="ws://127.0.0.1:1", **settings)
    text = plain.read_text() + f'\nconsole_ca_file = "{tls.ca}"\n'
    plain.write_text(text)
    wrong = meshpos("node", "--config", str(plain))
    assert wrong.returncode == 2
    assert "needs a wss:// console_url" in wrong.stderr
    plain.write_text(
        text.replace("ws://", "wss://").replace(str(tls.ca), str(tmp_path / "missing.pem"))
    )
    missing = meshpos("node", "--config", str(plain))
    assert missing.returncode == 2
    assert missing.stderr.startswith("meshpos: error: console_ca_file ")
    assert "No such file or directory" in missing.stderr
    plain.write_text(text.replace("ws://", "wss://").replace(str(tls.ca), str(tls.key)))
    garbage = meshpos("node", "--config", str(plain))
    assert garbage.returncode == 2
    assert "not a PEM file of CA certificates" in garbage.stderr
