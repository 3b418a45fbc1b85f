"""The reachability policy derived from the example inventory."""

from __future__ import annotations

from dataclasses import replace

import pytest

from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.model.policy import Source, allowed_networks, may_connect, sources

ROOT = REPO


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_inventory(ROOT / "inventory.yaml")


def src(inv: Inventory, name: str) -> Source:
    return next(s for s in sources(inv) if s.name == name)


@pytest.mark.parametrize(("source", "allowed"), [
    ("platform", True), ("runner", False), ("pve-docker-1", False), ("vpn-client", False), ("guest", False),
    ("wan", False),
])
def test_agent_port_only_from_platform(inv: Inventory, source: str, allowed: bool) -> None:
    """9001 on an agent host admits the platform VM and nobody else."""
    assert may_connect(inv, src(inv, source), inv.hosts["unraid"], 9001) is allowed


@pytest.mark.parametrize(("source", "allowed"), [
    ("runner", True), ("unraid", True), ("vpn-client", True), ("guest", False), ("wan", False),
])
def test_management_is_lan_and_vpn(inv: Inventory, source: str, allowed: bool) -> None:
    """Portainer's 9443 and SSH admit LAN and VPN only."""
    assert may_connect(inv, src(inv, source), inv.platform_host, 9443) is allowed
    assert may_connect(inv, src(inv, source), inv.platform_host, 22) is allowed


def test_nothing_public_by_default(inv: Inventory) -> None:
    """The shipped inventory publishes nothing to the internet: NPM's 80 and 443 are LAN/VPN like its 81."""
    for port in (80, 443, 81):
        assert not may_connect(inv, src(inv, "wan"), inv.platform_host, port)
        assert may_connect(inv, src(inv, "vpn-client"), inv.platform_host, port)
    assert allowed_networks(inv, "public") is None


def test_public_ports_admit_anyone(inv: Inventory) -> None:
    """A port marked public admits anyone; a host's daemon joins the policy with its own exposure."""
    public = replace(inv, services={**inv.services, "npm": replace(inv.services["npm"], ports=tuple(
        replace(p, exposure="public") if p.port == 443 else p for p in inv.services["npm"].ports))})
    assert may_connect(public, src(public, "wan"), public.platform_host, 443)
    assert not may_connect(public, src(public, "wan"), public.platform_host, 81)
    unraid = inv.hosts["unraid"]
    assert may_connect(inv, src(inv, "runner"), unraid, 443)
    assert not may_connect(inv, src(inv, "guest"), unraid, 443)


def test_unlisted_port_admits_nobody(inv: Inventory) -> None:
    """A port the inventory does not publish (Portainer's HTTP 9000, Docker's 2375) is open to no one."""
    for port in (9000, 2375, 2376):
        assert not may_connect(inv, src(inv, "runner"), inv.platform_host, port)
