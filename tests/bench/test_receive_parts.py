"""``python -m meshpos.bench.receive_parts`` with a tiny day: its figures printed with sane types, each
sale committed in one pump round, and the receiver counts every receipt (else it measured nothing).
A sale reaches the receiver as the seller's synchronizer sends it: one update per document it
changed (the ledger, the stop list's number mark; three before a write's changes left together)."""

from __future__ import annotations

import json
import pathlib
import pstats

import pytest

from meshpos.bench import receive_parts


def test_receive_parts_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert receive_parts.main(["--sales", "6", "--peers", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sales"] == 6
    assert report["peers"] == 2
    assert report["receive_us_per_receipt"] > 0
    assert report["rounds_per_receipt"] == 1.0  # one commit round per received batch
    assert report["updates_per_receipt"] == 2.0  # the ledger once, the stop list once


def test_receive_parts_profiles_the_measured_half(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "receive.prof"
    spent, rounds, updates = receive_parts.receive_us_per_receipt(6, 1, str(path))
    assert spent > 0
    assert rounds == 1.0
    assert updates == 2.0
    stats = pstats.Stats(str(path))
    assert any(name == "link_messages" for _, _, name in stats.stats)  # type: ignore[attr-defined]


def test_receive_parts_runs_a_whole_mesh(capsys: pytest.CaptureFixture[str]) -> None:
    """``--mesh 3``: three engines in this process converge on the day (else it raises), and each
    receipt is one update message per document to each other register (a payment's ledger changes
    leave as one update: 2 documents x 2 peers; 6 before, the ledger twice)."""
    assert receive_parts.main(["--sales", "6", "--peers", "1", "--mesh", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mesh_nodes"] == 3
    assert report["mesh_cpu_ms_per_receipt"] > 0
    assert report["mesh_update_messages_per_receipt"] == 4.0
