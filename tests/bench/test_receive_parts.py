"""``python -m meshpos.bench.receive_parts`` with a tiny day: its figures printed with sane types, each
sale committed in one pump round, and the receiver counts every receipt (else it measured nothing).
A sale reaches the receiver as the seller's synchronizer sends it: one update per document it
changed (the ledger, the stop list's number mark; three before a write's changes left together), or
with the marks waiting (issue 18, marks: a node's default) the ledger's alone but when the marks leave."""

from __future__ import annotations

import json
import pathlib
import pstats

import pytest

from meshpos.bench import receive_parts


def test_receive_parts_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        receive_parts.main(["--sales", "6", "--peers", "2", "--json", "--mark-wait-ms", "0"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["sales"] == 6
    assert report["peers"] == 2
    assert report["receive_us_per_receipt"] > 0
    assert report["rounds_per_receipt"] == 1.0  # one commit round per received batch
    assert report["updates_per_receipt"] == 2.0  # the ledger once, the stop list once


def test_receive_parts_profiles_the_measured_half(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "receive.prof"
    spent, rounds, updates = receive_parts.receive_us_per_receipt(6, 1, str(path), mark_wait_ms=0)
    assert spent > 0
    assert rounds == 1.0
    assert updates == 2.0
    stats = pstats.Stats(str(path))
    assert any(name == "link_messages" for _, _, name in stats.stats)  # type: ignore[attr-defined]


def test_receive_parts_runs_a_whole_mesh(capsys: pytest.CaptureFixture[str]) -> None:
    """``--mesh 3``: three engines in this process converge on the day (else it raises), and each
    receipt is one update message per document to each other register (a payment's ledger changes
    leave as one update: 2 documents x 2 peers; 6 before, the ledger twice)."""
    argv = ["--sales", "6", "--peers", "1", "--mesh", "3", "--json", "--mark-wait-ms", "0"]
    assert receive_parts.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mesh_nodes"] == 3
    assert report["mesh_cpu_ms_per_receipt"] > 0
    assert report["mesh_update_messages_per_receipt"] == 4.0


def test_with_the_marks_waiting_a_sale_is_the_ledgers_update_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Marks that wait 10 s (none reaches its deadline here) leave no update of their own in the
    mesh: one message per receipt to each other register; the receiver's count takes in the one
    time the waiting marks left."""
    argv = ["--sales", "6", "--peers", "1", "--mesh", "3", "--json", "--mark-wait-ms", "10000"]
    assert receive_parts.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mesh_update_messages_per_receipt"] == 2.0
    assert 1.0 <= report["updates_per_receipt"] < 2.0


def test_receive_parts_runs_the_status_rounds(capsys: pytest.CaptureFixture[str]) -> None:
    """``--status 2`` (the twenty-second session, part ``receiver``): a status service on the
    receiver (its own catalog and shift) runs the ticker's hooks after every second received sale,
    and the receiver still counts every receipt."""
    argv = ["--sales", "6", "--peers", "1", "--json", "--mark-wait-ms", "0", "--status", "2"]
    assert receive_parts.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status_every"] == 2
    assert report["receive_us_per_receipt"] > 0
    assert report["rounds_per_receipt"] >= 1.0  # (a round's own pump may drain its shift's write)


def test_receive_parts_reads_each_sale_off_a_tls_websocket(tmp_path: pathlib.Path) -> None:
    """``--wire`` (the twenty-third session, part ``cpu``): each sale's message crosses a TLS
    websocket on loopback and the measured half's profile holds the receiver's read of it (the
    stream's read and the websocket's), with the receiver counting every receipt as before."""
    path = tmp_path / "wire.prof"
    spent, rounds, updates = receive_parts.receive_us_per_receipt(
        6, 1, str(path), mark_wait_ms=0, wire=True
    )
    assert spent > 0
    assert rounds == 1.0
    assert updates == 2.0
    names = {name for _, _, name in pstats.Stats(str(path)).stats}  # type: ignore[attr-defined]
    assert {"recv_batch", "link_messages", "_read_ready"} <= names
