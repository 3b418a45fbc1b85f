"""Phase 4: the exporters (node-exporter 9100, cAdvisor 8080 on every Docker host) and Prometheus (9090) and
Grafana (3000) on the platform VM answer from the LAN and the VPN only: not from the guest network, not from
the internet.

Each spec is parametrized by host and by source (`unraid<-guest`: unraid, as seen from guest); all probes of the
run go out in one concurrent sweep per source. Published ports bypass ufw, so only probing proves it. An
on-demand host that is off skips.
"""

from __future__ import annotations

import pytest

from homelab.checks.reach import expect_reach
from homelab.model.monitoring import first_tcp_port

pytestmark = pytest.mark.phase4

DOCKER_USER = ("re-run `python -m bootstrap phase4`: DOCKER-USER (HOMELAB-DOCKER) admits LAN and VPN to the "
               "published port and drops the rest; ufw alone does not close a published port")


def port_of(inventory, service: str) -> int:
    port = first_tcp_port(inventory.services[service])
    assert port is not None, f"inventory.yaml: services.{service} publishes no TCP port"
    return port


@pytest.mark.spec("P4-NET-001", severity="high", fix=f"node-exporter is for LAN and VPN only; {DOCKER_USER}")
@pytest.mark.each("host", stack="exporters")
@pytest.mark.each("source")
def test_node_exporter_exposure(host, source, inventory, reachability, on):
    """node-exporter (9100) on each Docker host answers from LAN and VPN (Prometheus on the platform VM among
    them), and not from the guest network or the internet."""
    expect_reach(reachability, on, source, host, port_of(inventory, "node-exporter"), "node-exporter")


@pytest.mark.spec("P4-NET-002", severity="high", fix=f"cAdvisor is for LAN and VPN only; {DOCKER_USER}")
@pytest.mark.each("host", stack="exporters")
@pytest.mark.each("source")
def test_cadvisor_exposure(host, source, inventory, reachability, on):
    """cAdvisor (8080) on each Docker host answers from LAN and VPN, and not from the guest network or the
    internet."""
    expect_reach(reachability, on, source, host, port_of(inventory, "cadvisor"), "cAdvisor")


@pytest.mark.spec("P4-NET-003", severity="high", fix=f"Prometheus is for LAN and VPN only; {DOCKER_USER}")
@pytest.mark.each("host", stack="monitoring")
@pytest.mark.each("source")
def test_prometheus_exposure(host, source, inventory, reachability, on):
    """Prometheus (9090) answers from LAN and VPN, and not from the guest network or the internet."""
    expect_reach(reachability, on, source, host, port_of(inventory, "prometheus"), "Prometheus")


@pytest.mark.spec("P4-NET-004", severity="high", fix=f"Grafana is for LAN and VPN only; {DOCKER_USER}")
@pytest.mark.each("host", stack="monitoring")
@pytest.mark.each("source")
def test_grafana_exposure(host, source, inventory, reachability, on):
    """Grafana (3000) answers from LAN and VPN, and not from the guest network or the internet."""
    expect_reach(reachability, on, source, host, port_of(inventory, "grafana"), "Grafana")
