"""The phase 2 faults: each breaks one constraint of the agents (9001 platform-only, the agent container, its
secret, Portainer's environments) and names the specs that must catch it."""

from __future__ import annotations

import json
import shlex
import time

from homelab.clients import connect
from homelab.clients.portainer import Json
from homelab.model import firewall
from lab.docker import LabError
from lab.faults.base import Fault, Lab

AGENT = "portainer-agent"
OVERRIDE = "/tmp/homelab-fault-agent.yml"  # noqa: S108 -- a file inside the lab host, removed by undo
ROGUE = "rogue-pc"                         # an environment no inventory knows
LAN_SOURCES = ("runner", "unraid", "pve-docker-1", "pve-docker-2", "gaming-pc-1")


def _open_from(host: str, *sources: str) -> tuple[str, ...]:
    return tuple(f"test_agent_port_platform_only[{host}<-{s}]" for s in sources if s != host)


def _agent_answers(lab: Lab, host: str) -> bool:
    code = lab.sh(host, "curl -sk -o /dev/null -w '%{http_code}' --max-time 2 https://127.0.0.1:9001/ping || true")
    return code.strip() == "204"


def _recreate(lab: Lab, host: str, override: dict[str, object] | None) -> None:
    """Recreate the agent from its compose files, plus `override` (None: without the fault's override)."""
    files = [f for f in lab.label(AGENT, "com.docker.compose.project.config_files", host).split(",")
             if f and f != OVERRIDE]
    project = lab.label(AGENT, "com.docker.compose.project", host)
    env = lab.label(AGENT, "com.docker.compose.project.environment_file", host).split(",")[0]
    if override is not None:
        files.append(OVERRIDE)
    args = ["docker", "compose", "-p", project, *[a for f in files for a in ("-f", f)]]
    args += ["--env-file", env] if env else []
    write = f"printf %s {shlex.quote(json.dumps(override))} > {OVERRIDE} && " if override else f"rm -f {OVERRIDE}; "
    lab.sh(host, f"{write}{shlex.join(args)} up -d --no-deps {AGENT} 2>&1", timeout=180)
    deadline = time.monotonic() + 60
    while not _agent_answers(lab, host):
        if time.monotonic() > deadline:
            raise LabError(f"the agent on {host} does not answer /ping 60 s after it was recreated")
        time.sleep(1)


def _endpoint(lab: Lab, name: str) -> Json:
    with lab.portainer() as portainer:
        found = [e for e in portainer.endpoints() if e["Name"] == name]
    if not found:
        raise LabError(f"Portainer has no environment {name}: apply bootstrap phase 2 first")
    return found[0]


def _delete_endpoint(lab: Lab, name: str) -> None:
    with lab.portainer() as portainer:
        for endpoint in portainer.endpoints():
            if endpoint["Name"] == name:
                portainer.delete_endpoint(int(endpoint["Id"]))


def _wrong_tag(lab: Lab) -> None:
    endpoint = _endpoint(lab, "unraid")
    with lab.portainer() as portainer:
        other = [t["ID"] for t in portainer.tags() if t["Name"] == "proxmox"]
        portainer.update_endpoint(int(endpoint["Id"]), TagIDs=other)


def _rogue(lab: Lab) -> None:
    with lab.portainer() as portainer:
        portainer.create_endpoint(ROGUE, 4, connect.url(lab.inventory, "portainer"))


def _lan_rule(lab: Lab, verb: str) -> None:
    """Insert (or delete) a rule that admits the whole LAN to 9001, first in Unraid's HOMELAB-DOCKER."""
    rule = (f"-s {lab.inventory.networks['lan'].cidr} -p tcp -m conntrack --ctorigdstport 9001 --ctdir ORIGINAL "
            "-j RETURN")
    where = "-I HOMELAB-DOCKER 1" if verb == "insert" else "-D HOMELAB-DOCKER"
    lab.sh("unraid", f"iptables {where} {rule}")


GO = "/boot/config/go"  # Unraid's boot script: the firewall block bootstrap writes there is what survives a reboot
GO_SAVED = "/boot/config/go.homelab-fault"  # the file as it was, put back by the undo


def _go_block(lab: Lab, remove: bool) -> None:
    """The homelab block cut out of Unraid's go file (a hand edit, or a go file restored from an old backup)."""
    if remove:
        cut = shlex.quote(f"/^{firewall.BEGIN}$/,/^{firewall.END}$/d")
        lab.sh("unraid", f"cp -p {GO} {GO_SAVED} && sed -i {cut} {GO} && ! grep -qF {shlex.quote(firewall.BEGIN)} {GO}")
    else:
        lab.sh("unraid", f"mv {GO_SAVED} {GO}")


FAULTS = (
    Fault("agent-docker-user-flush", "DOCKER-USER flushed on pve-docker-1: its published 9001 bypasses ufw",
          (*_open_from("pve-docker-1", *LAN_SOURCES, "vpn-client", "guest"),
           "test_agent_host_docker_user_chain[pve-docker-1]",
           *(f"test_nothing_unplanned_answers[pve-docker-1<-{s}]" for s in ("runner", "vpn-client", "guest"))),
          lambda lab: lab.sh("pve-docker-1", "iptables -F DOCKER-USER"),
          lambda lab: lab.sh("pve-docker-1", "ufw reload >/dev/null"), phase=2),
    Fault("agent-ufw-disabled", "ufw disabled on pve-docker-1: its SSH answers the guest network",
          ("test_agent_host_ufw_active[pve-docker-1]", "test_ssh_lan_and_vpn_only[pve-docker-1<-guest]",
           "test_nothing_unplanned_answers[pve-docker-1<-guest]"),
          lambda lab: lab.sh("pve-docker-1", "ufw disable >/dev/null"),
          lambda lab: lab.sh("pve-docker-1", "ufw --force enable >/dev/null"), phase=2),
    Fault("go-block-removed", "the homelab firewall block cut out of Unraid's /boot/config/go (lost at the next boot)",
          ("test_unraid_rules_persisted[unraid]",), lambda lab: _go_block(lab, remove=True),
          lambda lab: _go_block(lab, remove=False), phase=2),
    Fault("agent-port-lan", "9001 opened to the whole LAN on Unraid (a RETURN rule for the LAN in HOMELAB-DOCKER)",
          (*_open_from("unraid", *LAN_SOURCES), "test_agent_host_docker_user_chain[unraid]",
           "test_nothing_unplanned_answers[unraid<-runner]"),
          lambda lab: _lan_rule(lab, "insert"), lambda lab: _lan_rule(lab, "delete"), phase=2),
    Fault("agent-second-port", "the agent on pve-docker-2 also published on 9002 (a compose override)",
          ("test_agent_publishes_only_its_port[portainer-agent@pve-docker-2]",
           "test_no_unplanned_published_port[pve-docker-2]", "test_only_planned_listeners[pve-docker-2]"),
          lambda lab: _recreate(lab, "pve-docker-2", {"services": {AGENT: {"ports": ["9002:9001"]}}}),
          lambda lab: _recreate(lab, "pve-docker-2", None), phase=2),
    Fault("agent-stopped", "the agent container stopped on pve-docker-1",
          ("test_agent_running[portainer-agent@pve-docker-1]", "test_agent_port_platform_only[pve-docker-1<-platform]",
           "test_agent_refuses_unsigned[pve-docker-1]", "test_environment_up[pve-docker-1]"),
          lambda lab: lab.sh("pve-docker-1", f"docker stop {AGENT} >/dev/null"),
          lambda lab: lab.sh("pve-docker-1", f"docker start {AGENT} >/dev/null"), phase=2),
    Fault("agent-no-secret", "the agent on unraid recreated without AGENT_SECRET",
          ("test_agent_secret_set[portainer-agent@unraid]", "test_environment_up[unraid]"),
          lambda lab: _recreate(lab, "unraid", {"services": {AGENT: {"environment": {"AGENT_SECRET": ""}}}}),
          lambda lab: _recreate(lab, "unraid", None), phase=2),
    Fault("endpoint-deleted", "pve-docker-2's environment deleted from Portainer",
          ("test_environment_registered[pve-docker-2]",), lambda lab: _delete_endpoint(lab, "pve-docker-2"),
          lambda lab: None, phase=2,
          also=("test_environment_group_and_tags[pve-docker-2]", "test_environment_up[pve-docker-2]"),
          why="with no environment there is no group, tag or status to compare: each says it is not registered"),
    Fault("endpoint-wrong-tag", "unraid's environment tagged proxmox instead of unraid, storage",
          ("test_environment_group_and_tags[unraid]",), _wrong_tag, lambda lab: None, phase=2),
    Fault("endpoint-unknown", f"an Edge environment {ROGUE} that no inventory names, added to Portainer",
          ("test_no_unknown_environments[portainer@platform]",), _rogue, lambda lab: _delete_endpoint(lab, ROGUE),
          phase=2),
)
