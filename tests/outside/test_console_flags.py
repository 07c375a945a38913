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
