"""Firewall rules generated from the reachability policy (homelab.model.firewall): pure, no host needed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from homelab.model import firewall
from homelab.model.firewall import FirewallRefused
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO

ROOT = REPO
LAN, VPN = "198.51.100.0/24", "203.0.113.0/26"


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_inventory(ROOT / "inventory.yaml")


def rules_for(rules: list[str], port: str) -> list[str]:
    return [r for r in rules if f" {port} " in r or f" {port}/" in r]


def test_ufw_defaults_first_and_enable_last(inv: Inventory) -> None:
    """ufw denies incoming and allows outgoing before any rule, and is enabled last."""
    commands = firewall.ufw_commands(inv, inv.platform_host)
    assert commands[:2] == ["ufw default deny incoming", "ufw default allow outgoing"]
    assert commands[-1] == "ufw --force enable"


def test_ufw_ssh_and_vpn_ports_from_lan_and_vpn(inv: Inventory) -> None:
    """SSH and a vpn-exposed port (Portainer's 9443) are allowed from the LAN and the VPN, nothing else."""
    rules = firewall.ufw_rules(inv, inv.platform_host)
    assert rules[:2] == [f"ufw allow from {LAN} to any port 22 proto tcp comment 'ssh'",
                         f"ufw allow from {VPN} to any port 22 proto tcp comment 'ssh'"]
    assert rules_for(rules, "9443") == [f"ufw allow from {LAN} to any port 9443 proto tcp comment 'portainer'",
                                        f"ufw allow from {VPN} to any port 9443 proto tcp comment 'portainer'"]


def test_ufw_public_ports_from_anywhere_and_udp(inv: Inventory) -> None:
    """A public port is allowed from anywhere (none is in the shipped inventory: NPM's 80 and 443 are LAN/VPN);
    DNS gets both tcp and udp rules."""
    rules = firewall.ufw_rules(inv, inv.platform_host)
    assert "ufw allow 443/tcp comment 'npm'" not in rules
    assert f"ufw allow from {LAN} to any port 443 proto tcp comment 'npm'" in rules
    public = replace(inv, services={**inv.services, "npm": replace(inv.services["npm"], ports=tuple(
        replace(p, exposure="public") if p.port in (80, 443) else p for p in inv.services["npm"].ports))})
    public_rules = firewall.ufw_rules(public, public.platform_host)
    assert "ufw allow 80/tcp comment 'npm'" in public_rules
    assert "ufw allow 443/tcp comment 'npm'" in public_rules
    assert f"ufw allow from {LAN} to any port 53 proto udp comment 'technitium'" in rules
    assert not any("port 9000 " in r or "9000/" in r for r in rules)  # Portainer's HTTP is not published


def test_agent_port_only_from_platform(inv: Inventory) -> None:
    """On an agent host, 9001 (exposure platform) admits the platform VM's address alone, in both layers."""
    unraid = inv.hosts["unraid"]
    assert rules_for(firewall.ufw_rules(inv, unraid), "9001") == [
        "ufw allow from 198.51.100.10 to any port 9001 proto tcp comment 'portainer-agent'"]
    assert rules_for(firewall.docker_rules(inv, unraid), "9001") == [
        "-A HOMELAB-DOCKER -s 198.51.100.10/32 -p tcp -m conntrack --ctorigdstport 9001 --ctdir ORIGINAL -j RETURN",
        "-A HOMELAB-DOCKER -p tcp -m conntrack --ctorigdstport 9001 --ctdir ORIGINAL -j DROP"]


def test_docker_chain_order(inv: Inventory) -> None:
    """Established traffic and the host's own bridges pass first; each port admits its networks, then drops;
    DNAT-ed connections to ports the inventory does not publish are dropped last."""
    rules = firewall.docker_rules(inv, inv.platform_host)
    assert rules[:3] == ["-A HOMELAB-DOCKER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
                         "-A HOMELAB-DOCKER -i docker0 -j RETURN", "-A HOMELAB-DOCKER -i br-+ -j RETURN"]
    assert rules_for(rules, "53")[3:] == [
        f"-A HOMELAB-DOCKER -s {LAN} -p udp -m conntrack --ctorigdstport 53 --ctdir ORIGINAL -j RETURN",
        f"-A HOMELAB-DOCKER -s {VPN} -p udp -m conntrack --ctorigdstport 53 --ctdir ORIGINAL -j RETURN",
        "-A HOMELAB-DOCKER -p udp -m conntrack --ctorigdstport 53 --ctdir ORIGINAL -j DROP"]
    assert rules_for(rules, "443") == [
        f"-A HOMELAB-DOCKER -s {LAN} -p tcp -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j RETURN",
        f"-A HOMELAB-DOCKER -s {VPN} -p tcp -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j RETURN",
        "-A HOMELAB-DOCKER -p tcp -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j DROP"]
    assert rules[-1] == "-A HOMELAB-DOCKER -m conntrack --ctstate DNAT --ctdir ORIGINAL -j DROP"
    assert not any("--ctorigdstport 22 " in r for r in rules)  # SSH is not a Docker port


def test_restore_block_and_replacement(inv: Inventory) -> None:
    """The block jumps from DOCKER-USER to our chain; replacing it in after.rules is idempotent."""
    block = firewall.restore_block(firewall.docker_rules(inv, inv.platform_host))
    assert block.splitlines()[1:5] == ["*filter", ":DOCKER-USER - [0:0]", ":HOMELAB-DOCKER - [0:0]",
                                       "-A DOCKER-USER -j HOMELAB-DOCKER"]
    assert "-A ufw-after-input -i br-+ -j ACCEPT" in block
    assert "ufw-after-input" not in firewall.restore_block([], ufw=False)
    original = "*filter\n:ufw-after-input - [0:0]\nCOMMIT\n"
    once = firewall.with_block(original, block)
    assert once == original + block
    assert firewall.with_block(once, block) == once
    assert firewall.with_block(once, "new\n") == original + "new\n"


def test_go_snippet_for_unraid(inv: Inventory) -> None:
    """On Unraid (no ufw) the same chain is restored from /boot/config/go, between the markers."""
    block = firewall.restore_block(firewall.docker_rules(inv, inv.hosts["unraid"]), ufw=False)
    snippet = firewall.go_snippet(block)
    assert snippet.startswith(firewall.BEGIN)
    assert snippet.rstrip().endswith(firewall.END)
    assert "iptables-restore --noflush" in snippet
    assert "--ctorigdstport 9001" in snippet


@pytest.mark.parametrize("ssh_client", ["198.51.100.77 51234 22", "203.0.113.5 40000 22"])
def test_ssh_session_admitted(inv: Inventory, ssh_client: str) -> None:
    """A session from the LAN or the VPN is kept by the planned rules: no refusal."""
    firewall.assert_ssh_kept(inv, inv.platform_host, ssh_client)


@pytest.mark.parametrize(("ssh_client", "says"), [
    ("203.0.113.70 51234 22", "admits only 198.51.100.0/24, 203.0.113.0/26"),  # the guest network
    ("", "cannot tell"),
])
def test_ssh_self_protection_refuses(inv: Inventory, ssh_client: str, says: str) -> None:
    """Enabling a firewall that would cut off the SSH session applying it is refused, saying why."""
    with pytest.raises(FirewallRefused, match="cut off this SSH session") as refused:
        firewall.assert_ssh_kept(inv, inv.platform_host, ssh_client)
    assert says in str(refused.value)
