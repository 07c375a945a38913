"""mDNS between releases (docs/architecture.md (Discovery)): the previous release's own discovery
(built from git history, previous.py) and this one's, same venue, real zeroconf on loopback.

This release's advertisement carries the venue CA's fingerprint (TXT ``ca``) and, when no other venue with
its venue id holds it, the name N-1 gives (``<node>-<venue hash[:8]>``): N-1 ignores the TXT key it does
not know and finds the new node; the new node takes N-1's advertisement (no CA in it) on its venue hash.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from meshpos.harness.wait import until
from meshpos.net.adverts import service_name, venue_hash

from ..net.test_discovery import Harness, loopback
from .previous import Release

#: run by the previous release: its Discovery on one loopback address, a line per peer it reports,
#: until its standard input closes
OLD_NODE = """
import asyncio, json, sys
from meshpos.net.discovery import Discovery

async def main() -> None:
    venue, node, address = sys.argv[1:4]
    found = lambda ad: print(json.dumps([ad.node_id, ad.address, ad.port]), flush=True)
    d = Discovery(venue_id=venue, node_id=node, role="register", port=20777,
                  interfaces=[address], on_found=found)
    await d.start()
    print(json.dumps(["started"]), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await d.stop()

asyncio.run(main())
"""


async def _line(process: asyncio.subprocess.Process) -> Any:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert line, "the previous release's discovery ended"
    return json.loads(line)


async def test_previous_and_this_release_find_each_other(previous_release: Release) -> None:
    h = Harness("zeroconf")
    old_id, address = f"old-{h.venue[-8:]}", loopback()
    process = await asyncio.create_subprocess_exec(
        *previous_release.python,
        "-c",
        OLD_NODE,
        h.venue,
        old_id,
        address,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert await _line(process) == ["started"]
        new = h.node()
        await h.start(new)
        assert new.d.name == service_name(new.id, venue_hash(h.venue))  # the name N-1 accepts
        await until(lambda: old_id in new.d.peers, 15.0, "the new node finds the old", on=[new])
        assert new.d.peers[old_id].address == address
        assert new.d.peers[old_id].port == 20777
        assert new.d.peers[old_id].ca == ""
        while (found := await _line(process))[0] != new.id:
            pass
        assert found == [new.id, new.d.ad.address, new.d.ad.port]
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
        await h.close()
