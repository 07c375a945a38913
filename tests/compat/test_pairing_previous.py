"""Pairing across releases (issue 18, sticky): this release's pairing server hands the console's
certificate only to a device that announced it takes it (a handshake header), so an N−1 device, whose
decoder refuses unknown fields, still enrolls with a venue whose console has a key; and this release's
device enrolls with an N−1 pairing server (which ignores the header) and simply holds no pin."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from meshpos.trust import VenueAuthority, enroll, init_venue
from meshpos.trust.console_key import CONSOLE_CERT, issue_console_key
from meshpos.trust.console_strict import console_signed_mode

from ..trust.helpers import WAIT, start_pairing
from .previous import Release

#: run by the previous release: enroll with the pairing server at argv[1] with code argv[2]
ENROLL = """
import asyncio, sys
from pathlib import Path
from meshpos.trust import enroll
identity = asyncio.run(enroll(sys.argv[1], sys.argv[2], "reg_old", Path(sys.argv[3])))
print(identity.role)
"""

#: run by the previous release: serve one pairing code of the venue in argv[1], telling port and code
SERVE = """
import asyncio, json, sys
from pathlib import Path
from meshpos.trust import serve_pairing
from meshpos.trust.authority import load_venue
def ready(port, code):
    print(json.dumps({"port": port, "code": code.display}), flush=True)
asyncio.run(serve_pairing(load_venue(Path(sys.argv[1])), "register", "127.0.0.1", 0, on_ready=ready))
"""


def _venue(tmp_path: Path) -> VenueAuthority:
    authority = init_venue(tmp_path / "venue", "Cafe", "venue-1")
    issue_console_key(authority)
    return authority


async def test_an_n_1_device_enrolls_with_a_venue_whose_console_has_a_key(
    previous_release: Release, tmp_path: Path
) -> None:
    authority = _venue(tmp_path)
    pairing = await start_pairing(authority, "register")
    args = (pairing.url, pairing.code.display, str(tmp_path / "old-id"))
    role = await asyncio.to_thread(previous_release.run, ENROLL, *args)
    assert role.strip() == "register"
    assert (await asyncio.wait_for(pairing.task, WAIT)).device_id == "reg_old"
    assert not (tmp_path / "old-id" / CONSOLE_CERT).exists()


async def test_this_release_s_device_enrolls_with_an_n_1_pairing_server(
    previous_release: Release, tmp_path: Path
) -> None:
    authority = _venue(tmp_path)
    server = await asyncio.create_subprocess_exec(
        *previous_release.python,
        "-c",
        SERVE,
        str(authority.directory),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        line = await asyncio.wait_for(server.stdout.readline(), 60)
        ready = json.loads(line)
        await enroll(f"ws://127.0.0.1:{ready['port']}", ready["code"], "reg_new", tmp_path / "id")
        assert await asyncio.wait_for(server.wait(), WAIT) == 0
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    assert not (tmp_path / "id" / CONSOLE_CERT).exists()  # no pin: "auto" as before
    assert console_signed_mode("auto", tmp_path / "data", tmp_path / "id")[0] == "auto"
