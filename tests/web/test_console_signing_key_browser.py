"""The console's signing key of a venue ending soon, as a manager and a monitoring host meet it, with a
real ``meshpos console`` process, ``meshpos doctor --console`` and Debian's Chromium (the twenty-second
session).

Strict registers take only what the console signs; when its key ends they show their sales "not at the
console". Before, only the console's log said the end was near (at start) or had come (once): its
Status tab, ``/metrics`` and the doctor said nothing. Now the venue's status has ``signing`` (ending
within 30 days: what to do), the Status tab shows it, ``/metrics`` has
``meshpos_venue_signing_key_ends_timestamp_seconds`` (docs/alerts.yml's MeshposConsoleKeyEnding reads
it) and the doctor warns.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest

from meshpos.localapi import read_token
from meshpos.trust.console_key import issue_console_key

from ..mesh.kit import ConsoleProcess, make_venue
from ..ops.scrape import parse
from .cdp import Browser
from .test_pages_browser import q

DAYS = 10


def _doctor(console: Path, venue: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "meshpos",
            "doctor",
            "--console",
            "--db",
            f"sqlite:///{console / 'doctor.db'}",
            "--host",
            "127.0.0.1",
            "--token-file",
            str(console / "none.token"),
            "--venue",
            str(venue),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
async def test_a_signing_key_ending_in_days_is_said_on_the_status_metrics_page_and_doctor(
    tmp_path: Path, browser: Browser, artifacts: Path
) -> None:
    authority = make_venue(tmp_path)
    issue_console_key(authority, validity=datetime.timedelta(days=DAYS))
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory])
    venue = f"/api/venues/{authority.venue_id}"
    try:
        console.start()
        signing = console.call("GET", f"{venue}/status")["signing"]
        assert signing["state"] == "ending", signing
        ends = datetime.datetime.fromisoformat(signing["ends"])
        left = ends - datetime.datetime.now(datetime.UTC)
        assert datetime.timedelta(days=DAYS - 1) < left <= datetime.timedelta(days=DAYS)
        assert f"in {left.days} days" in signing["says"]
        assert "meshpos venue console-key" in signing["says"]

        scrape = parse(console.client.request("GET", "/metrics").body)
        at = scrape.one(
            "meshpos_venue_signing_key_ends_timestamp_seconds", venue=authority.venue_id
        )
        assert at == ends.timestamp()

        token = read_token(tmp_path / "console" / "console-admin.token")
        page = await browser.new_page("console signing key ending")
        await page.goto(f"{console.ready['api']}/?token={token}#status")
        await page.wait(
            f"{q('#status')}?.dataset.signing === 'ending'",
            timeout=30,
            what="the Status tab saying the signing key ends soon",
        )
        assert signing["says"] in await page.text("#status")
        await page.screenshot(artifacts / "1-console-status-signing-key-ending.png")
    finally:
        console.stop()

    done = _doctor(tmp_path / "console", authority.directory)
    warnings = [ln for ln in done.stdout.splitlines() if ln.split()[:1] == ["warning"]]
    assert any(f"signing key {authority.venue_id}" in ln and "ends on" in ln for ln in warnings), (
        done.stdout + done.stderr
    )


def test_a_venue_without_a_signing_key_says_so_and_has_no_end_to_scrape(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)  # (a venue made before console keys: no console.key)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory])
    try:
        console.start()
        signing = console.call("GET", f"/api/venues/{authority.venue_id}/status")["signing"]
        assert (signing["state"], signing["ends"]) == ("none", None)
        assert "strict registers show their sales not at the console" in signing["says"]
        body = console.client.request("GET", "/metrics").body
        assert "meshpos_venue_signing_key_ends_timestamp_seconds{" not in body
    finally:
        console.stop()
