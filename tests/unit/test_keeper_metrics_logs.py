"""keepers.metrics and keepers.logs: what an operator's Prometheus and log pipeline receive."""

from __future__ import annotations

import json
import logging
import urllib.request

from keepers.jobs import Alert
from keepers.logs import JsonFormatter, configure_logging
from keepers.metrics import Metrics
from keepers.shell import ActionReport, JobReport
from tests.scripts.inprocess import loggers_kept


def report(job: str, block: int, *outcomes: str, alerts=()) -> JobReport:
    actions = [ActionReport(f"{job}:{i}", "f()", o, "0x" + "ab" * 32 if o == "mined" else None,
                            gas_used=100_000 if o == "mined" else None)
               for i, o in enumerate(outcomes)]  # fmt: skip
    return JobReport(job, block, 1_700_000_000, False, actions, alerts=list(alerts), seconds=0.3)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_reports_become_counters_gauges_and_histograms():
    m = Metrics()
    m.observe(report("liquidator", 10, "mined", "mined", "lost-race"))
    m.observe(report("liquidator", 12, "refused"))
    critical = Alert("oracle-stale", "critical", "gold", "old")
    m.observe(report("sentinel", 12, alerts=[critical, critical]))
    assert sample(m, "ballast_keeper_passes_total", job="liquidator") == 2
    assert sample(m, "ballast_keeper_actions_total", job="liquidator", outcome="mined") == 2
    assert sample(m, "ballast_keeper_actions_total", job="liquidator", outcome="lost-race") == 1
    assert sample(m, "ballast_keeper_actions_total", job="liquidator", outcome="refused") == 1
    assert sample(m, "ballast_keeper_last_block", job="liquidator") == 12
    assert sample(m, "ballast_keeper_gas_used_total", job="liquidator") == 200_000
    assert sample(m, "ballast_keeper_pass_seconds_count", job="sentinel") == 1
    assert sample(m, "ballast_keeper_alerts_total", code="oracle-stale", severity="critical") == 2


def test_metrics_are_served_over_http():
    m = Metrics()
    m.observe(report("evaluator", 7, "mined"))
    port = m.serve(0, addr="127.0.0.1")
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'ballast_keeper_actions_total{job="evaluator",outcome="mined"} 1.0' in body
    assert 'ballast_keeper_last_block{job="evaluator"} 7.0' in body


def test_json_log_lines_carry_the_structured_fields():
    record = logging.LogRecord("keepers", logging.INFO, __file__, 1, "sent %s", ("x",), None)
    record.job, record.action_id, record.outcome = "evaluator", "evaluate:3", "mined"
    doc = json.loads(JsonFormatter().format(record))
    assert doc["msg"] == "sent x" and doc["level"] == "info" and doc["logger"] == "keepers"
    assert (doc["job"], doc["action_id"], doc["outcome"]) == ("evaluator", "evaluate:3", "mined")
    assert "tx_hash" not in doc  # absent fields are left out, not null
    assert doc["ts"].endswith("Z")


def test_configure_logging_routes_keepers_loggers_once(capsys):
    # Restored after: `keepers` left without propagation (and a handler on this test's captured
    # stderr) hid its records from caplog in every later test of this worker.
    with loggers_kept():
        configure_logging(json_lines=True)
        configure_logging(json_lines=True)  # reconfiguring does not duplicate handlers
        logging.getLogger("keepers.tx").info("hello", extra={"job": "liquidator"})
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["job"] == "liquidator"
