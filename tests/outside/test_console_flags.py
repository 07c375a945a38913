"""Found from the outside, starting ``meshpos console`` (and ``meshpos pair``) with flags a tired admin
types:

* ``--port 99999`` said ``unexpected error: OverflowError: bind(): port must be 0-65535.``; now one line
  naming the flag, exit 2, like node.toml's ports.
* ``--metrics-token-file console-admin.token`` (the admin token's file, or a copy of it) started, and
  said the scraper's token "reads GET /metrics only" while it was the admin token: a Prometheus
  configured with it held every admin right. Now refused, naming the file, before anything listens.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

from ..mesh.kit import make_venue


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command, which must end by itself (a console that starts is killed: the test fails)."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "meshpos", *args],
            capture_output=True, text=True, timeout=30, cwd=cwd,
        )  # fmt: skip
    except subprocess.TimeoutExpired as running:
        raise AssertionError(
            f"{args} did not refuse: {running.stdout!r} {running.stderr!r}"
        ) from None


def _host() -> str:
    return f"127.{random.randrange(100, 200)}.{random.randrange(1, 250)}.13"


def test_a_port_out_of_range_is_named(tmp_path: Path) -> None:
    make_venue(tmp_path)
    for args in (
        ("console", "--db", "sqlite:///c.db", "--host", _host(), "--port", "99999"),
        ("console", "--db", "sqlite:///c.db", "--host", _host(), "--api-port", "-1"),
        ("pair", "--venue", "venue", "--role", "register", "--host", _host(), "--port", "70000"),
    ):
        refused = _run(*args, cwd=tmp_path)
        assert refused.returncode == 2, (args, refused.stderr)
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "unexpected" not in refused.stderr
        assert "from 0 to 65535" in refused.stderr, refused.stderr
        assert f"{args[-2]} {args[-1]}" in refused.stderr, refused.stderr
    assert not (tmp_path / "c.db").exists()


def test_the_admin_token_is_refused_as_the_metrics_token(tmp_path: Path) -> None:
    admin = tmp_path / "console-admin.token"
    admin.write_text("a" * 40 + "\n")
    copy = tmp_path / "metrics-copy.token"
    copy.write_text("a" * 40 + "\n")
    for metrics in (admin, copy):
        refused = _run(
            "console", "--db", "sqlite:///c.db", "--host", _host(), "--port", "0", "--api-port",
            "0", "--token-file", str(admin), "--metrics-token-file", str(metrics),
            cwd=tmp_path,
        )  # fmt: skip
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.startswith(f"meshpos: error: {metrics}: "), refused.stderr
        assert "is the admin token" in refused.stderr
        assert '"ready"' not in refused.stdout


def test_a_venue_given_twice_and_an_endless_idle_time_are_refused(tmp_path: Path) -> None:
    """``--venue venue --venue venue`` said "venue '<id>' already exists" after it had registered the
    first; ``--venue-idle-seconds 1e400`` (infinity) was taken. Both now refused before the database
    is made."""
    make_venue(tmp_path)
    common = (
        "console",
        "--db",
        "sqlite:///c.db",
        "--host",
        _host(),
        "--port",
        "0",
        "--api-port",
        "0",
    )
    twice = _run(*common, "--venue", "venue", "--venue", "./venue", cwd=tmp_path)
    assert twice.returncode == 2, twice.stderr
    assert "is given twice" in twice.stderr, twice.stderr
    endless = _run(*common, "--venue-idle-seconds", "1e400", cwd=tmp_path)
    assert endless.returncode == 2, endless.stderr
    assert "--venue-idle-seconds inf: must be a finite number" in endless.stderr, endless.stderr
    assert not (tmp_path / "c.db").exists()


def test_a_pairing_code_lifetime_beyond_a_day_is_refused(tmp_path: Path) -> None:
    """``meshpos pair --ttl 1e400`` said ``unexpected error: OverflowError`` once it listened, and
    ``--ttl 99999999999`` printed "the code works once, until 00:19:03" (in 3,170 years)."""
    make_venue(tmp_path)
    for ttl in ("1e400", "99999999999", "86401"):
        refused = _run(
            "pair", "--venue", "venue", "--role", "register", "--host", _host(), "--ttl", ttl,
            cwd=tmp_path,
        )  # fmt: skip
        assert refused.returncode == 2, (ttl, refused.stderr)
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "at most 86400 seconds" in refused.stderr, refused.stderr
        assert "pairing code:" not in refused.stdout  # refused before a code was shown
