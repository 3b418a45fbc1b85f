"""Phase 1: who can connect to the platform VM's ports, proven by connecting from every source.

Each spec is parametrized by source: this machine (`runner`, on the LAN), every host, and every vantage
(`vpn-client`, `guest`, `wan`; `wan` probes the homelab's public address). All probes of the run go out in
one concurrent sweep per source, so the expected-closed ones cost about one probe timeout in total.
A source that disagrees with ufw is explained: a published Docker port bypasses ufw (docs/architecture.md).
"""

from __future__ import annotations

import pytest

from homelab.checks.reach import expect_reach, service_host

pytestmark = pytest.mark.phase1

DOCKER_USER = "re-run `python -m bootstrap phase1`: DOCKER-USER jumps to HOMELAB-DOCKER, which admits LAN and VPN only"


@pytest.mark.spec("P1-NET-001", severity="critical", fix=f"Portainer's UI is for LAN and VPN only; {DOCKER_USER}")
@pytest.mark.each("source")
def test_portainer_https(source, inventory, reachability, on):
    """Portainer's HTTPS port 9443 answers from the LAN and the VPN, and from nowhere else (guest, WAN)."""
    expect_reach(reachability, on, source, service_host(inventory, "portainer"), 9443, "Portainer HTTPS")


@pytest.mark.spec("P1-NET-002", severity="critical",
                  fix="do not publish Portainer's plain-HTTP port 9000 (stacks/platform/compose.yaml publishes 9443)")
@pytest.mark.each("source")
def test_portainer_http_closed(source, inventory, reachability, on):
    """Portainer's plain-HTTP port 9000 answers from nowhere."""
    expect_reach(reachability, on, source, service_host(inventory, "portainer"), 9000, "Portainer HTTP",
                 allowed=False)


@pytest.mark.spec("P1-NET-003", severity="high", fix=f"the Edge tunnel is for LAN and VPN only; {DOCKER_USER}")
@pytest.mark.each("source")
def test_portainer_edge_tunnel(source, inventory, reachability, on):
    """Portainer's Edge tunnel port 8000 answers from the LAN and the VPN only."""
    expect_reach(reachability, on, source, service_host(inventory, "portainer"), 8000, "Portainer Edge tunnel")


@pytest.mark.spec("P1-NET-004", severity="critical", fix=f"NPM's admin UI is for LAN and VPN only; {DOCKER_USER}")
@pytest.mark.each("source")
def test_npm_admin(source, inventory, reachability, on):
    """Nginx Proxy Manager's admin port 81 answers from the LAN and the VPN only."""
    expect_reach(reachability, on, source, service_host(inventory, "npm"), 81, "NPM admin")


@pytest.mark.spec("P1-NET-005", severity="critical",
                  fix=f"NPM's 80 and 443 answer where their exposure allows (LAN and VPN unless a name is public); "
                      f"{DOCKER_USER}; from the internet, forward them on the router only when marked public")
@pytest.mark.each("source")
@pytest.mark.parametrize("port", [80, 443])
def test_npm_proxy_ports(source, port, inventory, reachability, on):
    """NPM's proxy ports 80 and 443 answer where the inventory's exposure allows: from the LAN and the VPN in
    the shipped inventory (nothing is public), from the internet too only when marked public."""
    expect_reach(reachability, on, source, service_host(inventory, "npm"), port, "NPM proxy")


@pytest.mark.spec("P1-NET-006", severity="critical", fix=f"Technitium's console is for LAN and VPN only; {DOCKER_USER}")
@pytest.mark.each("source")
def test_technitium_console(source, inventory, reachability, on):
    """Technitium's web console 5380 answers from the LAN and the VPN only."""
    expect_reach(reachability, on, source, service_host(inventory, "technitium"), 5380, "Technitium console")


@pytest.mark.spec("P1-NET-007", severity="high", fix=f"DNS is served to LAN and VPN only; {DOCKER_USER}")
@pytest.mark.each("source")
def test_technitium_dns_tcp(source, inventory, reachability, on):
    """Technitium's DNS port 53/tcp answers from the LAN and the VPN only."""
    expect_reach(reachability, on, source, service_host(inventory, "technitium"), 53, "Technitium DNS")


@pytest.mark.spec("P1-NET-008", severity="high", fix=f"Uptime Kuma is for LAN and VPN only; {DOCKER_USER}")
@pytest.mark.each("source")
def test_uptime_kuma(source, inventory, reachability, on):
    """Uptime Kuma's port 3001 answers from the LAN and the VPN only."""
    expect_reach(reachability, on, source, service_host(inventory, "uptime-kuma"), 3001, "Uptime Kuma")


@pytest.mark.spec("P1-NET-009", severity="critical",
                  fix="ufw: allow 22/tcp from the LAN and VPN networks only, default deny incoming (`sudo ufw enable`)")
@pytest.mark.each("source")
def test_ssh_management_only(source, inventory, reachability, on):
    """SSH on the platform VM answers from the LAN and the VPN only."""
    host = inventory.platform_host
    expect_reach(reachability, on, source, host, host.ssh.port, "SSH")
