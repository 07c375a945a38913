"""Every example runs as it is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_register_day_continues_receipt_numbers_across_runs(tmp_path: Path) -> None:
    db = tmp_path / "register.db"
    outputs = [
        subprocess.run(
            [sys.executable, str(EXAMPLES / "register_day.py"), str(db)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    assert "receipt R1-000001" in outputs[0]
    assert "receipt R1-000002" in outputs[1]
    assert "shift closed" in outputs[1]
