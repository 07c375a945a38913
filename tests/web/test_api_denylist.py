"""``GET/POST /api/denylist`` on real nodes: a CA-signed revocation is enforced at once and spread; a
tampered one, another venue's, a bad device id or a missing field writes nothing and says why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshpos.config import Config
from meshpos.harness.wait import until
from meshpos.node import Node
from meshpos.trust import init_venue, load_venue

from ..trust.helpers import issue_identity
from .conftest import running
from .kit import Client, make_configs


@pytest.fixture
def configs(tmp_path: Path) -> list[Config]:
    return make_configs(tmp_path, [("R1", "register"), ("R2", "register"), ("K1", "kds")])


@pytest.fixture
async def nodes(configs: list[Config]) -> AsyncIterator[list[Node]]:
    async with running(configs) as started:
        yield started


async def test_a_signed_revocation_is_enforced_and_spread_and_anything_else_is_refused(
    nodes: list[Node], tmp_path: Path
) -> None:
    r1, r2, k1 = nodes
    authority = load_venue(tmp_path / "venue")
    client = Client.of(r1, await Client.of(r1).ok("GET", "/api/openapi.json"))
    assert await client.ok("GET", "/api/denylist") == {
        "node": "R1",
        "venue": authority.venue_id,
        "revoked": [],
    }
    entry: dict[str, Any] = dict(authority.revoke("R2", "till stolen"))
    venue = authority.venue_id
    other = init_venue(tmp_path / "other", "Other", "other-venue")
    issue_identity(other, "R2")
    sig = str(entry["sig"])
    refusals = [
        (422, "wrong_venue", entry | {"venue": "other-venue"}),
        (422, "revocation_refused", dict(other.revoke("R2")) | {"venue": venue}),
        (422, "revocation_refused", entry | {"reason": "something else"}),
        (422, "revocation_refused", entry | {"sig": sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]}),
        (422, "invalid_device_id", entry | {"device": "R2 and more"}),
        (400, "missing_field", {k: v for k, v in entry.items() if k != "sig"}),
        (400, "bad_field", entry | {"at": str(entry["at"])}),
        (400, "unknown_field", entry | {"extra": 1}),
    ]  # fmt: skip
    for status, code, body in refusals:
        message = await client.error(status, code, "POST", "/api/denylist", body)
        print(f"{code}: {message}")
    await Client(r1.api_url, "").error(401, "missing_token", "POST", "/api/denylist", entry)
    assert not r1.is_revoked("R2")
    assert set(r1.status().peers) == {"R2", "K1"}

    done = await client.ok("POST", "/api/denylist", entry | {"venue": venue})
    assert (done["ok"], done["node"], done["device"], done["already"]) == (True, "R1", "R2", False)
    assert r1.is_revoked("R2")  # enforced before the answer
    await until(lambda: "R2" not in r1.status().peers, 5, "R1 drops R2", on=[r1])
    await until(lambda: k1.is_revoked("R2"), 10, "K1 learns it through the mesh", on=[k1])
    await until(lambda: "R2" not in k1.status().peers, 5, "K1 drops R2", on=[k1])
    listed = await Client.of(k1).ok("GET", "/api/denylist")
    assert listed["revoked"] == [entry]
    again = await client.ok("POST", "/api/denylist", entry)  # venue may be left out
    assert again["already"] is True
    assert not r2.is_revoked("R2")  # the revoked device was cut off before it heard
