"""Two venues made with one venue id, on one console database (tenth outside round, the twenty-third
session).

The owner of a second shop follows README on its own back-office PC and copies its command as written,
``meshpos venue init ... --venue-id cafe-central``, as the first shop did: two venues, two venue CAs,
one id (README allows it on one LAN: devices tell venues apart by their CA). Then the chain: "give
every console process the same ``--db``". The console knew a venue by its id alone: started with the
second shop's directory, it took that directory's console token as the first shop's token replaced
(``meshpos venue console-token --new``), refused the first shop's relays from then on ("wrong venue
token"), and served the second shop's devices the first shop's catalog (its menu, prices, staff and
PINs) and put the second shop's receipts into the first shop's reports. Now the console keeps the
venue CA it met first for each id (its SHA-256) and refuses, at start and changing nothing, a
directory of another CA with that id, naming both venues and what to do. Real console processes on a
SQLite file; the venues made with ``meshpos venue init`` as README runs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from meshpos.harness.procs import console_argv

from ..mesh.kit import ConsoleProcess

VENUE_ID = "cafe-central"


def venue_init(directory: Path, name: str) -> Path:
    made = subprocess.run(
        [
            *(sys.executable, "-m", "meshpos", "venue", "init", "--dir", str(directory)),
            *("--name", name, "--venue-id", VENUE_ID),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    return directory


def test_a_second_venue_with_the_same_id_is_refused_by_the_console(tmp_path: Path) -> None:
    first = venue_init(tmp_path / "central", "Café Central")
    second = venue_init(tmp_path / "harbour", "Café Harbour")
    db = f"sqlite:///{tmp_path / 'console.db'}"
    menu = f"/api/venues/{VENUE_ID}/products"
    console = ConsoleProcess(tmp_path, [first], db=db).start()
    try:
        console.call("POST", menu, {"id": "espresso", "name": "Espresso", "price": 250})
    finally:
        console.stop()
    before = (first / "console-token").read_text()

    argv = console_argv(db, [second], tmp_path / "console-admin.token", 0.5)
    start = subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = start.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # main: it serves the first venue's data to the second
        start.kill()
        out, err = start.communicate()
        raise AssertionError(f"the console started: {out[-800:]} {err[-800:]}") from None
    assert start.returncode == 2, out + err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1, err
    assert VENUE_ID in lines[0], err
    assert str(second) in lines[0], err
    assert "Café Central" in lines[0], err
    assert "--venue-id" in lines[0], err
    assert "unexpected" not in err, err

    console = ConsoleProcess(tmp_path, [first], db=db).start()  # the first shop's, unchanged
    try:
        assert "token changed" not in (tmp_path / "console.log").read_text()
        products = console.call("GET", f"/api/venues/{VENUE_ID}/menu")["products"]
        assert [p["id"] for p in products] == ["espresso"]
    finally:
        console.stop()
    assert (first / "console-token").read_text() == before
