"""docs/alerts.yml works: Prometheus's own rule tester (``promtool test rules``, Debian's ``prometheus``)
evaluates each rule over series shaped like what a register's and the console's ``/metrics`` give, and it
fires when it should and not when it should not. The times come from the rules file (their ``for:`` and
the minutes in the expression), so changing N there keeps this test true."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

RULES = Path(__file__).resolve().parents[2] / "docs" / "alerts.yml"


def rules() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"]}


def minutes(duration: str) -> int:
    found = re.fullmatch(r"(\d+)m", duration)
    assert found, f"a `for:` in whole minutes: {duration!r}"
    return int(found.group(1))


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"{name}{{{inner}}}", "values": values}


def run_promtool(tmp_path: Path, tests: list[dict[str, Any]]) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(
            "promtool is missing (Debian package prometheus; ./run test installs it as root)"
        )
    check = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    spec = tmp_path / "alerts_test.yml"
    spec.write_text(
        yaml.safe_dump({"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": tests})
    )
    done = subprocess.run(
        [promtool, "test", "rules", str(spec)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def fired(rule: dict[str, Any], labels: dict[str, str], value: str = "") -> dict[str, Any]:
    """The alert ``rule`` gives for a series with ``labels``: its labels and annotations, filled in
    (``value``: how the annotation spells the alert's value)."""
    annotations = {}
    for key, text in rule["annotations"].items():
        for name, label in labels.items():
            text = text.replace("{{ $labels." + name + " }}", label)
        annotations[key] = text.replace("{{ $value | humanizeDuration }}", value)
    return {"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": annotations}


@pytest.mark.parametrize(
    ("alert", "colour"), [("MeshposRegisterYellow", "yellow"), ("MeshposRegisterAlone", "gray")]
)
def test_a_register_yellow_or_gray_for_n_minutes_alerts_and_a_short_blip_does_not(
    tmp_path: Path, alert: str, colour: str
) -> None:
    rule = rules()[alert]
    n = minutes(rule["for"])
    target = {"instance": "192.168.1.22:8700", "job": "meshpos"}
    info = {**target, "node": "R1", "role": "register", "venue": "cafe-central"}
    total = 2 * n + 10
    # green for 2 minutes, the colour for n - 2 minutes (a blip), green 2, then the colour to the end
    stay = total - n - 2
    values = f"0x2 1x{n - 3} 0x2 1x{stay}"
    firing = {**target, "colour": colour, "node": "R1", "venue": "cafe-central"}
    run_promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [
                    series("meshpos_colour", {**target, "colour": colour}, values),
                    series("meshpos_node_info", info, f"1x{total}"),
                ],
                "alert_rule_test": [
                    {"eval_time": f"{n}m", "alertname": alert, "exp_alerts": []},  # the blip
                    {"eval_time": f"{n + 2 + n - 1}m", "alertname": alert, "exp_alerts": []},
                    {
                        "eval_time": f"{total}m",
                        "alertname": alert,
                        "exp_alerts": [fired(rule, firing)],
                    },
                ],
            }
        ],
    )


def test_a_venue_that_sells_and_stops_uploading_alerts_and_a_closed_one_does_not(
    tmp_path: Path,
) -> None:
    rule = rules()["MeshposVenueNotUploading"]
    silent_min = int(re.search(r"> (\d+) \* 60", rule["expr"]).group(1))  # type: ignore[union-attr]
    trading_min = int(re.search(r"< (\d+) \* 60", rule["expr"]).group(1))  # type: ignore[union-attr]
    n = minutes(rule["for"])
    total = silent_min + n + 5
    heard_s = 60  # every venue is last heard at minute 1, then the console hears nothing
    console = {"instance": "console:8781", "job": "meshpos-console"}

    def venue(name: str, last_record_s: int, pending: int, told: int = 0) -> list[dict[str, str]]:
        labels = {**console, "venue": name}
        return [
            series("meshpos_venue_last_seen_timestamp_seconds", labels, f"{heard_s}x{total}"),
            series(
                "meshpos_venue_last_record_timestamp_seconds", labels, f"{last_record_s}x{total}"
            ),
            # what its devices said is pending while they were reachable (absent afterwards)
            series("meshpos_venue_pending", labels, f"{pending} _x{total}"),
            # what devices beyond the relay's links were told to have pending (the twenty-first
            # session: the rule read only the linked devices' counts)
            series("meshpos_venue_pending_told", labels, f"{told} _x{total}"),
        ]

    closed_s = heard_s - 3 * trading_min * 60  # its last sale long before it went quiet
    quiet_min = total - heard_s // 60
    assert quiet_min < 60, "humanizeDuration spells hours too: keep the test under one"
    quiet = f"{quiet_min}m 0s"  # how long the console has not heard them, as the alert says it
    run_promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [
                    *venue("selling", heard_s - 30, 0),  # sold until it went quiet
                    *venue("backlog", closed_s, 7),  # its relay said 7 changes wait
                    *venue("far", closed_s, 0, 4),  # 4 wait on a register beyond the relay's links
                    *venue("closed", closed_s, 0),  # closed for the night: quiet, nothing pending
                ],
                "alert_rule_test": [
                    {"eval_time": f"{silent_min}m", "alertname": rule["alert"], "exp_alerts": []},
                    {
                        "eval_time": f"{total}m",
                        "alertname": rule["alert"],
                        "exp_alerts": [
                            fired(rule, {**console, "venue": v}, quiet)
                            for v in ("backlog", "far", "selling")
                        ],
                    },
                ],
            }
        ],
    )


def test_the_readme_scrape_configuration_is_one_prometheus_takes(tmp_path: Path) -> None:
    """README.md (Running as a service, metrics and logs): its prometheus.yml, with the rules file."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(
            "promtool is missing (Debian package prometheus; ./run test installs it as root)"
        )
    readme = (RULES.parents[1] / "README.md").read_text()
    (config,) = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "scrape_configs" in b]
    for path in re.findall(r"/etc/prometheus/[\w.-]+", config):  # the files it names, here
        name = Path(path).name
        (tmp_path / name).write_text(RULES.read_text() if name.endswith(".yml") else "token\n")
        config = config.replace(path, str(tmp_path / name))
    (tmp_path / "prometheus.yml").write_text(config)
    done = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(rules())} rules found" in done.stdout  # the rules file was read too


def test_a_console_key_ending_within_the_days_alerts_and_a_long_one_or_none_does_not(
    tmp_path: Path,
) -> None:
    """The twenty-second session: the console's signing key's end was said only in its log."""
    rule = rules()["MeshposConsoleKeyEnding"]
    days = int(re.search(r"< (\d+) \* 86400", rule["expr"]).group(1))  # type: ignore[union-attr]
    n = minutes(rule["for"])
    total = n + 5
    console = {"instance": "console:8781", "job": "meshpos-console"}

    def venue(name: str, ends_in_days: float) -> dict[str, str]:
        ends = int(ends_in_days * 86400)  # promtool's time() starts at 0
        labels = {**console, "venue": name}
        return series("meshpos_venue_signing_key_ends_timestamp_seconds", labels, f"{ends}x{total}")

    run_promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [
                    venue("ending", days - 1),
                    venue("ended", -1),
                    venue("long", days + 1),  # and a venue without a key has no series at all
                ],
                "alert_rule_test": [
                    {"eval_time": f"{n - 1}m", "alertname": rule["alert"], "exp_alerts": []},
                    {
                        "eval_time": f"{total}m",
                        "alertname": rule["alert"],
                        "exp_alerts": [
                            fired(rule, {**console, "venue": v}) for v in ("ended", "ending")
                        ],
                    },
                ],
            }
        ],
    )
