"""``python -m meshpos.bench.pair``: two trees, alternating order, each run's figures as JSON (real
processes: each run is ``python -m`` from its tree)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """import json, os, sys
spin = sum(range(200_000))  # some CPU of its own
print("warming up")
print(json.dumps({"tree": os.path.basename(os.getcwd()), "args": sys.argv[1:]}))
"""


def tree(root: Path, name: str) -> Path:
    """A source tree holding a ``meshpos`` package with a probe that says which tree it ran from."""
    package = root / name / "meshpos"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "probe.py").write_text(PROBE)
    return root / name


def pair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshpos.bench.pair", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_two_trees_run_in_alternating_order_and_each_run_is_a_json_line(tmp_path: Path) -> None:
    before, after, out = tree(tmp_path, "before"), tree(tmp_path, "after"), tmp_path / "runs.jsonl"
    done = pair(
        "--base", str(before), "--tree", str(after), "--pairs", "2", "--out", str(out),
        "--", "meshpos.probe", "--json", "--rate", "5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    runs = report["runs"]
    assert [r["tree"] for r in runs] == ["base", "tree", "tree", "base"]
    for run in runs:  # each ran from its own tree, with the arguments given
        want = "before" if run["tree"] == "base" else "after"
        assert run["result"] == {"tree": want, "args": ["--json", "--rate", "5"]}, run
        assert run["rc"] == 0, run
        assert run["cpu_s"] > 0, run  # the child's own CPU time
        assert run["wall_s"] > 0, run
        assert run["load_start"] is None or len(run["load_start"]) == 3
    assert [json.loads(line) for line in out.read_text().splitlines()] == runs


def test_a_tree_without_meshpos_is_refused_naming_it(tmp_path: Path) -> None:
    before = tree(tmp_path, "before")
    (tmp_path / "empty").mkdir()
    done = pair("--base", str(before), "--tree", str(tmp_path / "empty"), "--", "meshpos.probe")
    assert done.returncode == 2
    assert f"--tree {tmp_path / 'empty'}: holds no meshpos package" in done.stderr
    assert done.stdout == ""
