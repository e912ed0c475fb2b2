"""deploy/prometheus/: the alert rules are valid and fire on the series they are for
(promtool, from Debian's prometheus: `make prometheus`), and name only series the service
publishes."""

from __future__ import annotations

import re
import shutil
import subprocess

import yaml

from training_export.paths import REPO_ROOT

RULES = REPO_ROOT / "deploy" / "prometheus" / "alerts.yaml"
RULE_TESTS = REPO_ROOT / "deploy" / "prometheus" / "alerts_test.yaml"
PROMTOOL = shutil.which("promtool")
SERVING_SOURCE = "".join(p.read_text() for p in (REPO_ROOT / "serving").glob("*.py"))
# BentoML's own series (tests/e2e/test_server.py sees them on a real server's /metrics).
BENTOML_SERIES = {
    "bentoml_service_request_total",
    "bentoml_service_request_duration_seconds_bucket",
}


def promtool(*args: str) -> str:
    assert PROMTOOL, "promtool is missing: `make prometheus` (apt-get install prometheus)"
    done = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_rules_are_valid() -> None:
    assert "SUCCESS: 6 rules found" in promtool("check", "rules", str(RULES))


def test_each_alert_fires_on_its_series_and_not_on_a_healthy_fleet() -> None:
    assert "SUCCESS" in promtool("test", "rules", str(RULE_TESTS))


def test_the_rules_use_only_series_the_service_publishes() -> None:
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    named = {
        name
        for rule in rules
        for name in re.findall(r"\b(bentoml_\w+|credit_risk_\w+)\{", rule["expr"])
    }
    ours = {name for name in named if name.startswith("credit_risk_")}
    assert named - ours == BENTOML_SERIES
    assert all(f"{name} " in SERVING_SOURCE or f"{name} {{" in SERVING_SOURCE for name in ours)
    tested = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {case["alertname"] for test in tested for case in test["alert_rule_test"]}
    assert fired == {rule["alert"] for rule in rules}
