"""A scraper reads the console's ``GET /metrics`` with a read-only token, with a real console process.

Before, ``/metrics`` took only the admin token, so a Prometheus host held the token that edits the menu,
staff and PINs. ``meshpos console`` now makes a metrics token (``console-metrics.token`` beside the admin
token, or ``--metrics-token-file``) that reads ``/metrics`` and is refused, in words, everywhere else.
"""

from __future__ import annotations

import stat
from pathlib import Path

from meshpos.localapi import LocalApi, read_token

from ..mesh.kit import ConsoleProcess, make_venue
from ..ops.scrape import parse


def test_the_metrics_token_reads_metrics_and_nothing_else(tmp_path: Path) -> None:
    authority = make_venue(tmp_path)
    (tmp_path / "console").mkdir()
    console = ConsoleProcess(tmp_path / "console", [authority.directory])
    try:
        console.start()
        token_file = tmp_path / "console" / "console-metrics.token"
        assert console.ready["metrics_token_file"] == str(token_file)
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600  # its owner's only
        token = read_token(token_file)
        admin = console.client
        assert token != admin.token
        scraper = LocalApi(admin.base, token)

        answer = scraper.request("GET", "/metrics")
        assert answer.status == 200, answer.body
        assert parse(answer.body).one("meshpos_venue_devices", venue=authority.venue_id) == 0
        assert admin.request("GET", "/metrics").status == 200  # the admin token still reads it

        venue = f"/api/venues/{authority.venue_id}"
        catalog = admin.call("GET", f"{venue}/catalog")
        for method, path, body in (
            ("GET", "/api/venues", None),
            ("GET", f"{venue}/reports/receipts", None),
            ("POST", f"{venue}/products", {"id": "x", "name": "X", "price": 1}),
        ):
            refused = scraper.request(method, path, body)
            assert refused.status == 403, (path, refused.body)
            assert refused.json()["error"]["code"] == "metrics_token"
            assert "reads GET /metrics only" in refused.json()["error"]["message"]
        assert admin.call("GET", f"{venue}/catalog") == catalog  # nothing written

        wrong = LocalApi(admin.base, token[::-1]).request("GET", "/metrics")
        assert (wrong.status, wrong.json()["error"]["code"]) == (401, "wrong_token")
        assert LocalApi(admin.base).request("GET", "/metrics").status == 401

        console.stop()  # the token is kept across restarts: a scraper's copy stays good
        console.start()
        assert read_token(token_file) == token
        assert LocalApi(console.client.base, token).request("GET", "/metrics").status == 200
    finally:
        console.stop()
