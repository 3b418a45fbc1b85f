"""Phase 2: each agent host's firewall, as configured (the probes in test_agent_exposure.py prove its effect).

DOCKER-USER must send every forwarded connection through HOMELAB-DOCKER, whose rules are the inventory's
exposure policy; on the Proxmox VMs ufw is active with default deny; on Unraid (no ufw) the rules are persisted
in /boot/config/go, or they are gone after the next reboot.
"""

from __future__ import annotations

import pytest

from homelab.checks import problem
from homelab.checks.ufw import UFW_STATUS, expect_default_deny
from homelab.model import firewall

pytestmark = pytest.mark.phase2

BOOTSTRAP = "re-run `python -m bootstrap phase2`"
GO = "/boot/config/go"


DOCKER_USER_RULES = f"iptables -S DOCKER-USER && echo --- && {{ iptables -S {firewall.CHAIN} 2>&1 || true; }}"


@pytest.mark.spec("P2-FW-001", severity="critical",
                  fix=f"{BOOTSTRAP}: it restores the HOMELAB-DOCKER chain and DOCKER-USER's jump to it")
@pytest.mark.each("host", stack="agent")
@pytest.mark.reads(DOCKER_USER_RULES, root=True)
def test_agent_host_docker_user_chain(host, inventory, on):
    """DOCKER-USER jumps first to HOMELAB-DOCKER, whose rules are exactly the inventory's exposure policy."""
    out = on(host).read(DOCKER_USER_RULES, root=True, what="iptables -S DOCKER-USER")
    docker_user, _, chain = out.partition("---\n")
    jumps = [line for line in docker_user.splitlines() if line.startswith("-A")][:1]
    rules = [line for line in chain.splitlines() if line.startswith("-A")]
    wanted = firewall.docker_rules(inventory, host)
    found = []
    if jumps != [f"-A DOCKER-USER -j {firewall.CHAIN}"]:
        found.append(f"DOCKER-USER starts with {jumps[0] if jumps else 'nothing'}")
    extra, missing = [r for r in rules if r not in wanted], [r for r in wanted if r not in rules]
    found += [f"extra rule `{r}`" for r in extra] + [f"missing rule `{r}`" for r in missing]
    if not extra and not missing and rules != wanted:
        found.append(f"{firewall.CHAIN}'s rules are out of order")
    assert not found, problem(
        expected=f"DOCKER-USER jumping to {firewall.CHAIN} first, and {firewall.CHAIN} as planned from inventory.yaml",
        found="; ".join(found), where=f"{host.name}: iptables -S DOCKER-USER; iptables -S {firewall.CHAIN}",
        fix=f"{BOOTSTRAP} (it replaces the chain atomically); change who may connect in inventory.yaml, not on the "
        "host")


@pytest.mark.spec("P2-FW-002", severity="critical",
                  fix="`sudo ufw default deny incoming && sudo ufw enable` (re-run `python -m bootstrap phase2`)")
@pytest.mark.each("host", stack="agent", platform="proxmox-vm")
@pytest.mark.reads(UFW_STATUS, root=True)
def test_agent_host_ufw_active(host, on, reachability):
    """ufw is active with default deny (incoming) on each Proxmox Docker VM."""
    on(host)
    expect_default_deny(lambda: reachability.ufw(host), host)


@pytest.mark.spec("P2-FW-003", severity="high", fix=f"{BOOTSTRAP}: it writes the rules into {GO}")
@pytest.mark.each("host", stack="agent", platform="unraid")
def test_unraid_rules_persisted(host, inventory, on):
    """On Unraid the DOCKER-USER and INPUT rules are in /boot/config/go, so that they survive a reboot."""
    go = on(host).read(f"cat {GO}", root=True, what=GO)
    block = firewall.go_snippet(firewall.unraid_block(inventory, host))
    state = "the current block" if block in go else "an outdated block" if firewall.BEGIN in go else "no block"
    assert state == "the current block", problem(
        expected=f"{GO} holding the HOMELAB-DOCKER and HOMELAB-INPUT block planned from inventory.yaml", found=state,
        where=f"{host.name}:{GO}",
        fix=f"{BOOTSTRAP}; Unraid has no ufw, and only {GO} runs at boot")
