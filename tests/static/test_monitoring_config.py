"""Static specs for the monitoring stack's configuration files, which bootstrap and the phase 4 specs rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.checks import static, static_monitoring
from homelab.checks.static import expect_no_problems

pytestmark = pytest.mark.static

REPO = static.repository(Path(__file__).parents[2])


@pytest.mark.spec("S-MON-001", severity="medium",
                  fix="read the node and cadvisor jobs from /etc/prometheus/targets/*.json (file_sd_configs), which "
                      "bootstrap phase 4 writes")
def test_prometheus_reads_file_sd_targets() -> None:
    """Prometheus reads the node and cadvisor jobs from targets/*.json files that bootstrap generates."""
    expect_no_problems(static_monitoring.prometheus_file_sd(REPO))


@pytest.mark.spec("S-MON-002", severity="medium",
                  fix="provision the datasource with uid prometheus and the dashboards homelab-hosts and "
                      "homelab-containers on it")
def test_grafana_dashboards_provisioned() -> None:
    """Grafana provisions datasource uid `prometheus` and dashboards homelab-hosts and homelab-containers on it."""
    expect_no_problems(static_monitoring.grafana_dashboards(REPO))
