"""What a process start pays before it works: a node or a console started by the harness does not start
itself a second time to choose its allocator, and the commands a venue runs most (``node``, ``console``,
``status``...) do not import every benchmark to read their command line. Each start of the suite's
hundreds, and every boot of a venue, paid both (docs/architecture.md (Engine), Changed (issue 18,
fast)).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from meshpos.allocator import object_allocator_env
from meshpos.harness.procs import Proc

SHOW_ENV = "import json, os; print(json.dumps({'malloc': os.environ.get('PYTHONMALLOC')}))"


async def test_a_harness_process_starts_with_the_allocator_its_command_would_choose(
    tmp_path: Path,
) -> None:
    token = tmp_path / "api.token"
    token.write_text("t\n")
    proc = Proc("env", ["-c", SHOW_ENV], tmp_path / "env.log", token)
    await proc.start()
    assert proc.process is not None
    assert await proc.process.wait() == 0
    # what `meshpos node` would otherwise set by starting itself again (engine/memory.py)
    assert proc.ready == {"malloc": object_allocator_env({}).get("PYTHONMALLOC")}


LOADED = """
import sys
from meshpos.cli import main
for command in ("node", "console", "status", "clear-cache", "demo"):
    try:
        main([command, "--help"])
    except SystemExit:  # (--help)
        pass
print("loaded:", sorted({m.split('.')[1] for m in sys.modules if m.startswith(('meshpos.bench', 'meshpos.chaos',
    'meshpos.doctor', 'meshpos.backup', 'meshpos.trust.commands'))}))
for command in ("doctor", "pair", "backup", "service"):
    try:
        main([command, "--help"])
    except SystemExit:
        pass
print("loaded:", sorted(m for m in sys.modules if m.startswith('meshpos.bench')))
"""


def test_the_commands_a_venue_runs_most_read_their_command_line_without_the_benchmarks() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADED], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = [line for line in done.stdout.splitlines() if line.startswith("loaded:")]
    assert loaded == ["loaded: []", "loaded: []"], loaded
