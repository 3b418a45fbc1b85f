"""A host's firewall from the reachability policy (homelab.model.firewall): the last step of each phase on a host.

ufw: default deny incoming, allow outgoing, SSH and each published port from the networks its exposure
admits. DOCKER-USER: our chain HOMELAB-DOCKER, persisted as a block in /etc/ufw/after.rules so that every
`ufw reload` re-applies it atomically. Never enabled when the planned rules would cut off this SSH session.

Unraid has no ufw: there the same HOMELAB-DOCKER block is applied with `iptables-restore --noflush` and
persisted in /boot/config/go (Unraid runs it at every boot, from the flash drive), which is how Unraid
keeps host changes.
"""

from __future__ import annotations

from bootstrap.remote import Remote, put_text
from bootstrap.steps import Step, StepFailed
from homelab.model import firewall
from homelab.model.firewall import CHAIN, FirewallRefused

AFTER_RULES = "/etc/ufw/after.rules"
UNRAID_GO = "/boot/config/go"
SEP = "----homelab----"
# In English whatever the host's locale: ufw translates what is parsed here
STATE = (f"command -v ufw >/dev/null || {{ echo no-ufw; exit 0; }}; export LC_ALL=C; ufw status verbose; echo {SEP}; "
         "ufw show added; "
         f"echo {SEP}; iptables -S {CHAIN} 2>/dev/null; echo {SEP}; iptables -S DOCKER-USER 2>/dev/null; "
         f"echo {SEP}; cat {AFTER_RULES}")
DEFAULTS = "Default: deny (incoming), allow (outgoing)"


def _state(remote: Remote) -> list[str] | None:
    out = remote.run(STATE, what="reading the firewall state")
    parts = out.split(SEP + "\n")
    return parts if len(parts) == 5 else None


def _differences(remote: Remote) -> list[str]:
    """How the host's firewall differs from the plan; empty when it matches."""
    inventory, host = remote.inventory, remote.host
    state = _state(remote)
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
    if _block(remote) not in after_rules:
        found.append(f"{AFTER_RULES} lacks the block")
    return found


def _block(remote: Remote) -> str:
    return firewall.restore_block(firewall.docker_rules(remote.inventory, remote.host))


def _apply(remote: Remote) -> None:
    inventory, host = remote.inventory, remote.host
    if _state(remote) is None:
        if host.os not in ("debian", "ubuntu"):
            raise StepFailed(f"ufw is missing on {host.name} ({host.os}); install it, then run again")
        remote.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q ufw", timeout=600,
                     what="apt-get install ufw")
    try:
        firewall.assert_ssh_kept(inventory, host, remote.run("echo $SSH_CLIENT", root=False))
    except FirewallRefused as exc:
        raise StepFailed(f"{exc}. Nothing was changed") from None
    state = _state(remote)
    assert state is not None
    status, added, *_, after_rules = state
    put_text(remote, AFTER_RULES, firewall.with_block(after_rules, _block(remote)), mode=0o640)
    planned = firewall.ufw_rules(inventory, host)
    extra = [line for line in added.splitlines() if line.startswith("ufw ") and line not in planned]
    commands = [*firewall.UFW_DEFAULTS, *(f"ufw delete {line.removeprefix('ufw ')}" for line in extra), *planned]
    commands.append("ufw reload" if "Status: active" in status else "ufw --force enable")
    remote.run(" && ".join(f"{c} >/dev/null" for c in commands), timeout=120, what="ufw")
    if not remote.try_run(f"iptables -S {CHAIN}").ok:  # ufw loaded our block: the chain must exist now
        raise StepFailed(f"ufw did not load the {CHAIN} block from {AFTER_RULES}; see `ufw reload` on the host")


def _unraid_block(remote: Remote) -> str:
    return firewall.unraid_block(remote.inventory, remote.host)


def _unraid_differences(remote: Remote) -> list[str]:
    out = remote.run(f"iptables -S {CHAIN} 2>/dev/null; echo {SEP}; iptables -S DOCKER-USER 2>/dev/null; "
                     f"echo {SEP}; cat {UNRAID_GO} 2>/dev/null; echo {SEP}; iptables -S {firewall.INPUT_CHAIN} "
                     f"2>/dev/null; echo {SEP}; iptables -S INPUT 2>/dev/null; true", what="reading the firewall state")
    chain, docker_user, go, own, input_chain = [*out.split(SEP + "\n"), "", "", "", ""][:5]
    found = []
    if [line for line in own.splitlines() if line.startswith("-A")] != firewall.input_rules(
            remote.inventory, remote.host):
        found.append(f"{firewall.INPUT_CHAIN} differs (SSH and the host's daemons)")
    if [line for line in input_chain.splitlines() if line.startswith("-A")][:1] != [
            f"-A INPUT -j {firewall.INPUT_CHAIN}"]:
        found.append(f"INPUT does not jump to {firewall.INPUT_CHAIN} first")
    if [line for line in chain.splitlines() if line.startswith("-A")] != firewall.docker_rules(
            remote.inventory, remote.host):
        found.append(f"{CHAIN} differs")
    if [line for line in docker_user.splitlines() if line.startswith("-A")][:1] != [f"-A DOCKER-USER -j {CHAIN}"]:
        found.append(f"DOCKER-USER does not jump to {CHAIN} first")
    if firewall.go_snippet(_unraid_block(remote)) not in go:
        found.append(f"{UNRAID_GO} lacks the block")
    return found


def _unraid_apply(remote: Remote) -> None:
    if not remote.try_run("iptables -S DOCKER-USER").ok:
        raise StepFailed(f"{remote.host.name} has no DOCKER-USER chain: start Docker (Settings > Docker) first")
    go = remote.try_run(f"cat {UNRAID_GO}").stdout
    put_text(remote, UNRAID_GO, firewall.with_block(go, firewall.go_snippet(_unraid_block(remote))), mode=0o755)
    try:
        firewall.assert_ssh_kept(remote.inventory, remote.host, remote.run("echo $SSH_CLIENT", root=False))
    except FirewallRefused as exc:
        raise StepFailed(f"{exc}. Nothing was changed") from None
    remote.run(f"iptables-restore --noflush <<'HOMELAB_RULES'\n{_unraid_block(remote)}HOMELAB_RULES\n"
               f"{firewall.INPUT_JUMP}", what="iptables-restore")


def steps(remote: Remote) -> list[Step]:
    if remote.host.platform == "unraid":
        return [Step(f"firewall: DOCKER-USER and INPUT (SSH, daemons) from the inventory's exposure policy, "
                     f"persisted in {UNRAID_GO}",
                     remote.host.name, lambda: not _unraid_differences(remote), lambda: _unraid_apply(remote))]

    def check() -> bool:
        return not _differences(remote)

    return [Step("firewall: ufw and DOCKER-USER from the inventory's exposure policy", remote.host.name,
                 check, lambda: _apply(remote))]


