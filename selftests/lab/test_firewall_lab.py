"""Firewall rules planned from the lab's own inventory (its addresses, its networks)."""

from __future__ import annotations

import pytest

from homelab.model import firewall
from homelab.model.firewall import FirewallRefused
from homelab.model.inventory import Inventory

pytestmark = pytest.mark.lab


def rules_for(rules: list[str], port: str) -> list[str]:
    return [r for r in rules if f" {port} " in r or f" {port}/" in r]


def test_lab_inventory_rules(lab_inventory: Inventory) -> None:
    """From the lab inventory: the runner's LAN (198.18.10.0/24) and the VPN are admitted, the guest is not."""
    lab = lab_inventory
    rules = firewall.ufw_rules(lab, lab.platform_host)
    assert rules_for(rules, "22") == ["ufw allow from 198.18.10.0/24 to any port 22 proto tcp comment 'ssh'",
                                      "ufw allow from 198.18.20.0/24 to any port 22 proto tcp comment 'ssh'"]
    firewall.assert_ssh_kept(lab, lab.platform_host, "198.18.10.1 40000 22")
    with pytest.raises(FirewallRefused):
        firewall.assert_ssh_kept(lab, lab.platform_host, "198.18.30.10 40000 22")
