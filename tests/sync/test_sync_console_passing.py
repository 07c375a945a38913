"""The console's state passed on beyond the relay's links goes as what rose, not whole (issue 18, the
per-receipt cost at a venue's real rate: sync/_passing.py). Every register still learns all of it, and
never more than the relay learnt from the console."""

from __future__ import annotations

import json

from meshpos.model.tally import Tally

from .test_sync_topology import DOC, Venue, names


def _console_of(data: bytes) -> tuple[dict[str, dict[str, int]], dict[str, Tally]]:
    body = json.loads(data[1:])
    return body.get("console", {}), body.get("reports", {})


def test_a_register_passes_on_only_what_rose_and_every_register_learns_all_of_it() -> None:
    venue = Venue(16)
    venue.settle(15.0)
    relay = venue.agreed_relay()
    assert relay is not None
    node = venue.net.nodes[relay]
    # the console holds every register's sale and reports it (relay/service.py tells the relay)
    sold = {name: venue.write(name, f"sale-{name}") for name in names(16)}
    node.set_console_state(DOC, dict(sold.values()))
    node.set_console_reports(DOC, {name: {"receipts": 1} for name in sold})
    everyone = [s for n, s in venue.net.nodes.items() if n != relay]
    venue.until(
        lambda: (
            all(len(s.console_state(DOC)) == 16 for s in everyone)
            and all(len(s.console_reports(DOC)) == 16 for s in everyone)
        ),
        limit=10.0,
    )
    venue.net.advance(3.0, step=0.05)  # every link had it

    # one more sale at the console: a register passes on that one clock and count, not all 16
    start = len(venue.heartbeats)
    seller = names(16)[3]
    client, clock = venue.write(seller, "one-more")
    node.set_console_state(DOC, {client: clock})
    node.set_console_reports(DOC, {seller: {"receipts": 2}})
    venue.until(
        lambda: (
            all(s.console_state(DOC).get(client) == clock for s in everyone)
            and all(s.console_reports(DOC)[seller] == {"receipts": 2} for s in everyone)
        ),
        limit=10.0,
    )
    venue.net.advance(3.0, step=0.05)
    passed = [
        (console, reports)
        for sender, _receiver, data in venue.heartbeats[start:]
        if sender != relay
        for console, reports in [_console_of(data)]
        if console or reports
    ]
    assert passed, "no register passed the console's news on"
    for console, reports in passed:
        assert console == {DOC: {str(client): clock}}, console
        assert reports in ({}, {DOC: {seller: {"receipts": 2}}}), reports

    # nothing new: registers pass nothing on, and no one believes the console holds more than it does
    quiet = len(venue.heartbeats)
    venue.net.advance(3.0, step=0.05)
    assert not any(
        any(_console_of(data)) for sender, _r, data in venue.heartbeats[quiet:] if sender != relay
    )
    truth = node.console_state(DOC)
    for s in everyone:
        assert s.console_state(DOC) == truth
