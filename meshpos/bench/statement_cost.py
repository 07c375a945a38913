"""``python -m meshpos.bench.statement_cost``: what the console's signed statement costs a venue at rest.

docs/benchmarks.md (statement cost). **Changed** (issue 18, fresh): the console signs its statement
again at least every ``console_resign_s`` (2 s) also when nothing moved, so that a strict register can
tell a console that hears the venue from one that stopped (``sync/_fresh.py``); before, it signed again
only when its state moved, and an idle venue passed no statement at all. This counts the statements a
console signs over an idle minute (a real ``Synchronizer``, simulated time: deterministic) and measures
what each one costs: its body's bytes (each passes every mesh link once), the console's signing and
each node's check (venue CA, signature) and decoding (of new words, and of the same words signed
again: ``Statements.again``), per process CPU time over ``--repeat`` runs, for
a venue of ``--registers`` registers with ``--days`` open days (a state vector entry per register per
document, report counts per register and kind). The per-device idle cost is then the statements per
second times the check and decoding. **Changed** (issue 18, tick): at rest the console signs a tick
(``sync/_tick.py``) instead of the whole statement again; the ticks a console signs, a tick's bytes
(the heartbeat's ``tick`` field) and a node's check of one (its statement checked already) are
counted and measured alike, and the statement's whole field (certificate and signature) beside its
body.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from meshpos.model.documents import kitchen_name, ledger_name
from meshpos.sync import SyncConfig, Synchronizer
from meshpos.sync._signed import statement_digest
from meshpos.trust import init_venue
from meshpos.trust.console_key import (
    ConsoleChecker,
    ConsoleSigning,
    issue_console_key,
    load_console_signing,
)

VENUE = "0b1f2c3d-0000-4000-8000-000000000018"
KINDS = ("receipts", "payments", "refunds", "shift_events", "cash_moves", "stock_moves")


def content(registers: int, days: int, seed: int = 18) -> dict[str, Any]:
    """What a console says of itself at a venue of ``registers`` with ``days`` open days."""
    rng = random.Random(seed)
    clients = [rng.randrange(1, 2**53) for _ in range(registers)]
    dates = [f"2026-12-{day + 1:02d}" for day in range(days)]
    console: dict[str, dict[int, int]] = {}
    reports: dict[str, dict[str, dict[str, int]]] = {}
    for date in dates:
        ledger = ledger_name(date)
        for name in (ledger, kitchen_name(date)):
            console[name] = {c: rng.randrange(1, 200_000) for c in clients}
        reports[ledger] = {
            f"R{n + 1}": {k: rng.randrange(1, 3000) for k in KINDS} for n in range(registers)
        }
    return {"console": console, "reports": reports, "unreported": (0, "")}


def idle_statements(signing: ConsoleSigning, seconds: float) -> tuple[int, int]:
    """Statements and ticks (issue 18, tick) a console signs over ``seconds`` of simulated time
    while nothing moves."""
    signed = ticked = 0

    def signer(said: dict[str, Any]) -> Any:
        nonlocal signed
        signed += 1
        return signing(said)

    def ticker(of: str) -> Any:
        nonlocal ticked
        ticked += 1
        return signing.tick(of)

    config = SyncConfig(heartbeat_interval=1.0, console_signer=signer, console_tick_signer=ticker)
    console = Synchronizer(
        venue=VENUE, node_id="console", role="console", client_id=11, config=config
    )
    console.open_doc(ledger_name("2026-12-01"))
    now = 0.0
    while now <= seconds:
        console.tick(now)
        now += 0.1
    return signed, ticked


def measure(
    signing: ConsoleSigning, ca: str, registers: int, days: int, repeat: int
) -> dict[str, Any]:
    said = content(registers, days)
    cpu = time.process_time()
    statements = [signing(said) for _ in range(repeat)]
    sign_ms = (time.process_time() - cpu) * 1000 / repeat
    from meshpos.sync._bodies import decode_statement

    cpu = time.process_time()
    for statement in statements:
        assert statement is not None
        ConsoleChecker(ca, VENUE)(statement)  # (a checker per statement: no cache between them)
    check_ms = (time.process_time() - cpu) * 1000 / repeat
    cpu = time.process_time()
    for statement in statements:
        assert statement is not None
        decode_statement(statement.body)
    decode_ms = (time.process_time() - cpu) * 1000 / repeat
    # the same words signed again (at rest): what a node does with them (``Statements.again``)
    from meshpos.sync._signed import Statements, decode_tick_body, signed_body, tick_wire
    from meshpos.sync._tick import Ticks

    kept = Statements(strict=True)
    first = statements[0]
    assert first is not None
    kept.keep(first, decode_statement(first.body))
    again = getattr(kept, "again", None)  # (None before issue 18, fresh: decoded whole)
    cpu = time.process_time()
    for statement in statements[1:]:
        assert statement is not None
        if again is None or again(statement) is None:
            decode_statement(statement.body)
    again_ms = (time.process_time() - cpu) * 1000 / max(1, repeat - 1)
    # a tick (issue 18, tick): what a node does with one at rest, its statement checked already
    checker = ConsoleChecker(ca, VENUE)
    checker(first)
    ticks = [signing.tick(statement_digest(first)) for _ in range(repeat)]
    kept_ticks = Ticks()
    cpu = time.process_time()
    for tick in ticks:
        assert tick is not None
        decode_tick_body(tick.body)
        kept_ticks.digest_of(first)
        checker.tick(tick, first)
    tick_ms = (time.process_time() - cpu) * 1000 / repeat
    assert ticks[0] is not None
    tick_bytes = len(json.dumps({"tick": tick_wire(ticks[0])}, separators=(",", ":")))
    statement_bytes = len(json.dumps({"signed": signed_body(first)}, separators=(",", ":")))
    body = statements[0].body if statements[0] is not None else ""
    return {
        "registers": registers,
        "days": days,
        "body_bytes": len(body),
        "sign_ms": round(sign_ms, 3),
        "check_ms": round(check_ms, 3),
        "decode_ms": round(decode_ms, 3),
        "same_words_again_ms": round(again_ms, 3),
        "statement_field_bytes": statement_bytes,
        "tick_field_bytes": tick_bytes,
        "tick_check_ms": round(tick_ms, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshpos.bench.statement_cost")
    parser.add_argument("--registers", default="6,20,50", help="venue sizes, comma separated")
    parser.add_argument("--days", type=int, default=3, help="open days")
    parser.add_argument("--repeat", type=int, default=50, help="statements measured per size")
    parser.add_argument("--json", action="store_true", help="print JSON (the default: a table)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "venue"
        authority = init_venue(directory, "Bench", VENUE)
        issue_console_key(authority)
        signing = load_console_signing(directory, VENUE)
        assert signing is not None
        per_minute, ticks_per_minute = idle_statements(signing, 60.0)
        sizes = [int(n) for n in args.registers.split(",")]
        rows = [measure(signing, authority.ca_pem, n, args.days, args.repeat) for n in sizes]
    for row in rows:
        per_s, ticks_s = per_minute / 60, ticks_per_minute / 60
        at_rest = row["check_ms"] + row["same_words_again_ms"]
        row["idle_node_cpu_ms_per_s"] = round(per_s * at_rest + ticks_s * row["tick_check_ms"], 3)
        # (as before issue 18, tick: the body only; the field adds the certificate and signature)
        row["idle_bytes_per_link_per_s"] = round(
            per_s * row["body_bytes"] + ticks_s * row["tick_field_bytes"]
        )
        row["idle_field_bytes_per_link_per_s"] = round(
            per_s * row["statement_field_bytes"] + ticks_s * row["tick_field_bytes"]
        )
    out = {
        "idle_statements_per_minute": per_minute,
        "idle_ticks_per_minute": ticks_per_minute,
        "sizes": rows,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(f"idle statements per minute: {per_minute}, ticks: {ticks_per_minute}")
        for row in rows:
            print("  " + ", ".join(f"{k} {v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
