"""Static specs for the monitoring stack's configuration files, which bootstrap and the phase 4 specs rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab import stackcheck
from homelab.stackcheck import expect_no_problems

pytestmark = pytest.mark.static

REPO = stackcheck.repository(Path(__file__).parents[2])


def test_prometheus_reads_file_sd_targets() -> None:
    """Prometheus reads the node and cadvisor jobs from targets/*.json files that bootstrap generates."""
    expect_no_problems(stackcheck.prometheus_file_sd(REPO))


def test_grafana_dashboards_provisioned() -> None:
    """Grafana provisions datasource uid `prometheus` and dashboards homelab-hosts and homelab-containers on it."""
    expect_no_problems(stackcheck.grafana_dashboards(REPO))
