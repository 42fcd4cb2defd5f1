"""docs/grafana-dashboard.json and docs/prometheus-alerts.yml only use metrics the server exposes.

The names are taken from a real exposition: a worker's (every optional metric
present: EAP on, spool, a change applied), its process metrics, and the
supervisor's own (``--workers``). Renaming a metric without the dashboard and
the rules fails here.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.process_collector import ProcessCollector

from radius_server.runtime.metrics import Reading, ServerCollector
from radius_server.runtime.metrics_merge import SupervisorEndpoints
from radius_server.runtime.request_stats import RequestStats
from tests.conftest import require_tool

DOCS = Path(__file__).resolve().parents[2] / "docs"
NAME = re.compile(r"\bradius_server_[a-z0-9_]+")


def _exposed() -> set[str]:
    stats = RequestStats()
    stats.observe("accept", "ok", "pap", "lobby", 0.001)
    reading = Reading(
        requests=stats.counts(),
        latency=stats.latency(),
        reply_cache_hits={"resent": 1, "in_progress": 0},
        directory_ready=True,
        database_reachable=True,
        members=1,
        clients=1,
        last_change_age=3.0,
        eap_enabled=True,
        eap_open=1,
        eap_evicted=0,
        certificate_days=100.0,
        lockouts={"user": 1},
        spool_records=0,
        accounting_queued=0,
        accounting_records={"database": 1},
        disconnects={"acked": 1},
        affinity={"forwarded": 1, "received": 1, "local": 0, "dropped": 0},
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(lambda: reading))
    ProcessCollector(namespace="radius_server", registry=registry)
    texts = [generate_latest(registry).decode(), SupervisorEndpoints([]).metrics()[1].decode()]
    return {
        sample.name
        for text in texts
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_dashboard_and_alert_rules_use_only_exposed_metrics() -> None:
    exposed = _exposed()
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    expressions += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    rules = (DOCS / "prometheus-alerts.yml").read_text()
    used = {name for text in [*expressions, rules] for name in NAME.findall(text)}
    assert len(used) >= 15  # the check found the names it is about
    assert sorted(used - exposed) == []


def test_dashboard_is_importable_json() -> None:
    """What Grafana's import needs: a title, a uid, the data source input, panels with ids."""
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"] == "radius-server"
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) > 10
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"


def test_alert_rules_pass_promtool() -> None:
    """Prometheus's own check of the rules file (Debian package prometheus)."""
    promtool = require_tool("promtool")
    done = subprocess.run(
        [promtool, "check", "rules", str(DOCS / "prometheus-alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
