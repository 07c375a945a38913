"""What every benchmark shares at its ends: where its files go, and how its figures are printed.

Each ``meshpos bench …`` prints one JSON object with ``--json`` (scripts and docs/benchmarks.md read
it), else one aligned line per figure; its fixtures go under ``--dir`` (kept, to look at) or a
temporary folder removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


def print_report(report: Mapping[str, Any], as_json: bool) -> None:
    """The figures as one JSON object, or one ``name value`` line each."""
    if as_json:
        print(json.dumps(report, indent=2))
        return
    width = max(map(len, report), default=0) + 2
    for key, value in report.items():
        print(f"{key:<{width}}{value!s:>12}")


@contextlib.contextmanager
def work_dir(kept: str | None, prefix: str) -> Iterator[Path]:
    """``kept`` (created if missing, left in place) or a temporary folder removed on exit."""
    if kept:
        root = Path(kept)
        root.mkdir(parents=True, exist_ok=True)
        yield root
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)
