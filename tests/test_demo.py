"""``meshpos demo`` end to end: a short business day with an outage, a killed register and a relay failover
must reconcile with 0 lost, 0 duplicated and matching totals; then, while it serves, the cashiers' names and
PINs it printed log in on a register through that register's API (what its page calls)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path

import pytest

from meshpos.localapi import LocalApi, read_token

DEADLINE_S = 240.0  # the whole run, generous: a loaded machine; nothing here measures speed
STAFF = re.compile(r"^  (?P<name>.+) \((?P<user>[^,]+), (?P<role>\w+)\): PIN (?P<pin>\d{4,8})$")
PAGE = re.compile(r"^  (?P<node>R\d): (?P<url>http://\S+)/$")


async def _read_report(stdout: asyncio.StreamReader) -> dict[str, object]:
    """The --json report: one object printed with indent, its last line a lone '}'."""
    text = ""
    while line := (await stdout.readline()).decode():
        text += line
        if line == "}\n":
            break
    report: dict[str, object] = json.loads(text)
    return report


async def _read_served(stderr: asyncio.StreamReader, seen: list[str]) -> list[str]:
    """The demo's messages up to the end of what it prints once it serves (its last line)."""
    while line := (await stderr.readline()).decode(errors="replace"):
        seen.append(line)
        if "press Ctrl-C to stop" in line:
            break
    return seen


@pytest.mark.slow
async def test_a_short_demo_day_reconciles_and_its_printed_pins_log_in(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "meshpos", "demo", "--duration", "24", "--rate", "3", "--json",
        "--serve", "--dir", str(root),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert demo.stdout is not None
    assert demo.stderr is not None
    said: list[str] = []
    try:
        report, _ = await asyncio.wait_for(
            asyncio.gather(_read_report(demo.stdout), _read_served(demo.stderr, said)), DEADLINE_S
        )
        print(json.dumps(report, indent=1))
        assert report["receipts_created"] > 20  # type: ignore[operator]
        assert report["receipts_at_console"] == report["receipts_created"]
        assert report["lost"] == 0
        assert report["duplicated"] == 0
        assert report["totals_match"] is True
        assert report["all_registers_synced"] is True
        assert len(report["faults"]) == 6  # type: ignore[arg-type]
        text = "".join(said)
        assert "pages:" in text  # the addresses of the pages are shown

        served = text[text.rindex("serving:") :].splitlines()
        staff = [m.groupdict() for line in served if (m := STAFF.match(line))]
        pages = {m["node"]: m["url"] for line in served if (m := PAGE.match(line))}
        assert {s["name"] for s in staff} == {"Anna", "Max", "Kim"}, served
        assert staff == report["staff"]
        assert len({s["pin"] for s in staff}) == len(staff)
        register = LocalApi(pages["R1"], read_token(root / "R1" / "api.token"))
        for person in staff:
            answer = await register.arequest(
                "POST", "/api/login", {"user": person["user"], "pin": person["pin"]}
            )
            assert (answer.status, answer.json().get("ok")) == (200, True), (person, answer.body)
        wrong = str((int(staff[0]["pin"]) + 1) % 10_000).zfill(4)
        refused = await register.arequest(
            "POST", "/api/login", {"user": staff[0]["user"], "pin": wrong}
        )
        assert (refused.status, refused.error[0]) == (403, "login_refused")
    finally:
        if demo.returncode is None:
            demo.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(demo.wait(), 60)
            except TimeoutError:
                demo.kill()
                await demo.wait()
    assert demo.returncode == 0, "".join(said)[-3000:]
