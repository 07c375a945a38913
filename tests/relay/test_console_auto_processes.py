"""``console_signed = "auto"`` (the default; issue 18, sticky), end to end with real processes: a console
that holds its venue's signing key, two registers with nothing set. Both reach "All data is synced"
(R2 from the statement R1 passes on), both turn strict on the console's first statement and remember
it in their data directory; a kill -9 of R2 and its restart keep it strict from its start, and it
still reaches synced on the console's signed word."""

from __future__ import annotations

from pathlib import Path

from meshpos.config import load_config
from meshpos.harness.wait import wait_for
from meshpos.model.sample import CASHIER
from meshpos.trust.console_strict import STRICT_FILE

from .signed_venue import signed_venue


def test_registers_turn_strict_by_default_and_a_kill_9_keeps_them_strict(tmp_path: Path) -> None:
    with signed_venue(tmp_path) as venue:
        configs = {name: load_config(path, env={}) for name, path in venue.configs.items()}
        assert all(c.console_signed == "auto" for c in configs.values())
        venue.sell_on_each()
        events = [n.events for n in venue.nodes.values()]
        wait_for(venue.synced, 30, "both registers synced", on=events)
        assert all((c.data_dir / STRICT_FILE).exists() for c in configs.values())  # remembered
        assert "strict from now on" in (tmp_path / "R2.log").read_text()

        r2 = venue.nodes["R2"]
        r2.kill()  # kill -9
        r2.start()
        assert "strict (remembered in" in (tmp_path / "R2.log").read_text()
        r2.sell(CASHIER, ["burger"])
        events = [n.events for n in venue.nodes.values()]
        wait_for(venue.synced, 30, "R2 synced again, on the console's signed word", on=events)
        authority = venue.authority
        at_console = venue.console.call("GET", f"/api/venues/{authority.venue_id}/receipts")
        assert len(at_console) == 3
