"""The trust subcommands: in-process for the quick ones, real processes for venue init, pair and enroll."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import pytest

from meshpos.trust import load_identity, load_venue, verify_revocation

from .cli_runner import main
from .helpers import WAIT, files_in

ROOT = Path(__file__).resolve().parents[2]
CODE_LINE = re.compile(r"^pairing code: (\d{4}-\d{4}-\d{2})$")
URL_LINE = re.compile(r"^listening on (ws://127\.0\.0\.1:\d+)$")


async def run_cli(*argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.trust.cli_runner",
        *argv,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def start_pair(venue_dir: Path, *extra: str) -> tuple[asyncio.subprocess.Process, str, str]:
    """Start ``pair`` and read the code and URL it prints."""
    pair = await run_cli("pair", "--venue", str(venue_dir), "--role", "kds", *extra)
    assert pair.stdout is not None
    code_match = CODE_LINE.match((await asyncio.wait_for(pair.stdout.readline(), WAIT)).decode())
    url_match = URL_LINE.match((await asyncio.wait_for(pair.stdout.readline(), WAIT)).decode())
    assert code_match
    assert url_match
    return pair, code_match.group(1), url_match.group(1)


@pytest.mark.slow
async def test_venue_init_pair_and_enroll_as_processes(tmp_path: Path) -> None:
    venue_dir, id_dir = tmp_path / "venue", tmp_path / "kds1"
    rc, out, err = await finish(
        await run_cli("venue", "init", "--dir", str(venue_dir), "--name", "Cafe")
    )
    assert (rc, err) == (0, "")
    assert "created venue 'Cafe'" in out
    pair, code, url = await start_pair(venue_dir)
    try:
        enroll = await run_cli(
            "enroll", "--code", code, "--server", url, "--device", "kds1", "--dir", str(id_dir)
        )
        rc, out, err = await finish(enroll)
        assert (rc, err) == (0, "")
        assert "enrolled as kds1 (kds)" in out
        rc, out, err = await finish(pair)
        assert (rc, err) == (0, "")
        assert "enrolled device kds1 as kds (serial " in out
    finally:
        if pair.returncode is None:
            pair.kill()
            await pair.wait()
    identity = load_identity(id_dir)
    assert (identity.device_id, identity.role) == ("kds1", "kds")
    assert identity.venue_id == load_venue(venue_dir).venue_id


@pytest.mark.slow
async def test_wrong_code_as_processes(tmp_path: Path) -> None:
    venue_dir, id_dir = tmp_path / "venue", tmp_path / "kds1"
    assert main(["venue", "init", "--dir", str(venue_dir), "--name", "Cafe"]) == 0
    pair, code, url = await start_pair(venue_dir)
    try:
        bad = "0000-0000-00" if code != "0000-0000-00" else "1111-1111-11"
        enroll = await run_cli(
            "enroll", "--code", bad, "--server", url, "--device", "kds1", "--dir", str(id_dir)
        )
        rc, out, err = await finish(enroll)
        assert (rc, out) == (2, "")
        assert err == "meshpos: error: pairing code rejected; ask for a new code\n"
        rc, out, err = await finish(pair)
        assert rc == 2
        assert "wrong pairing code; the code is used up" in err
    finally:
        if pair.returncode is None:
            pair.kill()
            await pair.wait()
    assert files_in(id_dir) == []


def test_venue_init_twice_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["venue", "init", "--dir", str(tmp_path / "v"), "--name", "Cafe", "--venue-id", "cafe-1"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("meshpos: error: ")
    assert "already holds a venue" in err
    assert err.count("\n") == 1


def test_revoke_prints_the_signed_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from meshpos.trust.certs import new_private_key
    from meshpos.trust.identity import new_csr

    venue_dir = tmp_path / "v"
    assert main(["venue", "init", "--dir", str(venue_dir), "--name", "Cafe"]) == 0
    venue = load_venue(venue_dir)
    venue.issue(new_csr(new_private_key(), "reg1"), "reg1", "register")
    capsys.readouterr()
    assert main(["revoke", "reg1", "--venue", str(venue_dir), "--reason", "stolen"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert (entry["device"], entry["reason"]) == ("reg1", "stolen")
    assert verify_revocation(venue.ca_pem, entry)
    assert venue.revoked() == {"reg1": entry}
    assert main(["revoke", "reg9", "--venue", str(venue_dir)]) == 2
    assert "never issued" in capsys.readouterr().err


def test_pair_refuses_a_missing_venue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pair", "--venue", str(tmp_path / "none"), "--role", "kds"]) == 2
    assert "venue file not found" in capsys.readouterr().err
