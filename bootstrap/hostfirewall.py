"""Phase 1, last step: the platform host's firewall from the reachability policy (homelab.firewall).

ufw: default deny incoming, allow outgoing, SSH and each published port from the networks its exposure
admits. DOCKER-USER: our chain HOMELAB-DOCKER, persisted as a block in /etc/ufw/after.rules so that every
`ufw reload` re-applies it atomically. Never enabled when the planned rules would cut off this SSH session.
"""

from __future__ import annotations

from bootstrap.phase1.remote import Platform, put_text
from bootstrap.steps import Step, StepFailed
from homelab import firewall
from homelab.firewall import CHAIN, FirewallRefused

AFTER_RULES = "/etc/ufw/after.rules"
SEP = "----homelab----"
STATE = (f"command -v ufw >/dev/null || {{ echo no-ufw; exit 0; }}; ufw status verbose; echo {SEP}; ufw show added; "
         f"echo {SEP}; iptables -S {CHAIN} 2>/dev/null; echo {SEP}; iptables -S DOCKER-USER 2>/dev/null; "
         f"echo {SEP}; cat {AFTER_RULES}")
DEFAULTS = "Default: deny (incoming), allow (outgoing)"


def _state(platform: Platform) -> list[str] | None:
    out = platform.run(STATE, what="reading the firewall state")
    parts = out.split(SEP + "\n")
    return parts if len(parts) == 5 else None


def _differences(platform: Platform) -> list[str]:
    """How the host's firewall differs from the plan; empty when it matches."""
    inventory, host = platform.inventory, platform.host
    state = _state(platform)
    if state is None:
        return ["ufw is not installed"]
    status, added, chain, docker_user, after_rules = state
    found = []
    if "Status: active" not in status:
        found.append("ufw is inactive")
    if DEFAULTS not in status:
        found.append("ufw defaults differ")
    if {line for line in added.splitlines() if line.startswith("ufw ")} != set(firewall.ufw_rules(inventory, host)):
        found.append("ufw rules differ")
    if [line for line in chain.splitlines() if line.startswith("-A")] != firewall.docker_rules(inventory, host):
        found.append(f"{CHAIN} differs")
    if [line for line in docker_user.splitlines() if line.startswith("-A")][:1] != [f"-A DOCKER-USER -j {CHAIN}"]:
        found.append(f"DOCKER-USER does not jump to {CHAIN} first")
    if _block(platform) not in after_rules:
        found.append(f"{AFTER_RULES} lacks the block")
    return found


def _block(platform: Platform) -> str:
    return firewall.restore_block(firewall.docker_rules(platform.inventory, platform.host))


def _apply(platform: Platform) -> None:
    inventory, host = platform.inventory, platform.host
    if _state(platform) is None:
        if host.os not in ("debian", "ubuntu"):
            raise StepFailed(f"ufw is missing on {host.name} ({host.os}); install it, then run again")
        platform.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q ufw", timeout=600,
                     what="apt-get install ufw")
    try:
        firewall.assert_ssh_kept(inventory, host, platform.run("echo $SSH_CLIENT", root=False))
    except FirewallRefused as exc:
        raise StepFailed(f"{exc}. Nothing was changed") from None
    state = _state(platform)
    assert state is not None
    status, added, *_, after_rules = state
    put_text(platform, AFTER_RULES, firewall.with_block(after_rules, _block(platform)), mode=0o640)
    planned = firewall.ufw_rules(inventory, host)
    extra = [line for line in added.splitlines() if line.startswith("ufw ") and line not in planned]
    commands = [*firewall.UFW_DEFAULTS, *(f"ufw delete {line.removeprefix('ufw ')}" for line in extra), *planned]
    commands.append("ufw reload" if "Status: active" in status else "ufw --force enable")
    platform.run(" && ".join(f"{c} >/dev/null" for c in commands), timeout=120, what="ufw")
    if not platform.try_run(f"iptables -S {CHAIN}").ok:  # ufw loaded our block: the chain must exist now
        raise StepFailed(f"ufw did not load the {CHAIN} block from {AFTER_RULES}; see `ufw reload` on the host")


def steps(platform: Platform) -> list[Step]:
    def check() -> bool:
        return not _differences(platform)

    return [Step("firewall: ufw and DOCKER-USER from the inventory's exposure policy", platform.host.name,
                 check, lambda: _apply(platform))]


