"""The risks this homelab accepts today, from the inventory: standing entries of every report (report.html's
"Accepted risks", results.json's `risks`), so an auditor reads them each night instead of in a doc.

- A service with a name and no login (homelab.checks.logins.NO_LOGIN): its exposure specs are its only guard.
- An Edge agent that polls Portainer without verifying its certificate: only where Portainer has no name (then
  agents poll its own 9443, self-signed, with EDGE_INSECURE_POLL=1); P3-EDGE-006 fails then too.
- A stack bootstrap deploys itself rather than Portainer from Git (homelab.model.gitops): everywhere with
  `git.deploy: direct`. No spec compares what it runs with a Git commit.
- An Edge stack (homelab.model.gitops): Portainer CE clones its repository once and never polls the reference, so a push
  is not deployed until bootstrap runs; GIT-EDGE-002 compares its file with the reference each run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from homelab.checks.logins import NO_LOGIN
from homelab.clients.environments import edge_poll_verified
from homelab.clients.portainer import PORT as PORTAINER_PORT
from homelab.model.gitops import EDGE_MANAGED, EDGE_ROLE, MANAGED, edge_stack_hosts, portainer_deploys
from homelab.model.inventory import STACK_PHASES, Inventory


@dataclass(frozen=True)
class Risk:
    what: str
    where: str
    guard: str    # what stands between the risk and an attacker, checked every run
    remedy: str   # how to stop accepting it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def accepted(inventory: Inventory) -> list[Risk]:
    found = []
    for service, host in inventory.instances():
        name = service.fqdn_for(host)
        if service.name in NO_LOGIN and name:
            found.append(Risk(NO_LOGIN[service.name], f"{service.name}@{host.name} ({name})",
                              f"exposure `{service.exposure}`: EXP-SCAN-001, EXP-NAME-001 and the access list "
                              "of its name (EXP-NAME-002)",
                              "put an authenticating proxy in front of it (an NPM access list with users)"))
    port = inventory.upstream_port("portainer", PORTAINER_PORT)
    for host in ([] if edge_poll_verified(inventory) else inventory.hosts_with_stack("edge-agent")):
        found.append(Risk("the Edge agent polls Portainer with TLS verification off (EDGE_INSECURE_POLL=1): "
                          f"Portainer's {port} certificate is self-signed",
                          f"{host.name} -> {inventory.platform_host.name}:{port}",
                          "the Edge ID and key bind the agent to its environment; the LAN path is firewalled "
                          "(P1-NET-*, EXP-SCAN-001)",
                          "give Portainer a name (services.portainer: fqdn): agents then poll it through NPM, "
                          "verified"))
    for stack, hosts in edge_stack_hosts(inventory).items():
        found.append(Risk(f"the {stack} Edge stack is not polled: Portainer CE clones an Edge stack's repository once, "
                          "when it is created, and has no GitOps updates for Edge stacks (Business Edition has)",
                          f"{stack}@{','.join(h.name for h in hosts)}",
                          "GIT-EDGE-002 compares the file Portainer serves with the reference each run; bootstrap "
                          "phases 3 and 4 recreate the Edge stack from the reference when it differs",
                          f"re-run `python -m bootstrap phase{STACK_PHASES[stack]}` after a push"))
    for host in inventory.hosts.values():
        for stack in host.stacks:
            managed = EDGE_MANAGED if host.role == EDGE_ROLE else MANAGED
            if stack in managed and not portainer_deploys(inventory, host, stack):
                found.append(Risk(f"the {stack} stack is deployed by bootstrap, not by Portainer from Git: an edit "
                                  "on the host or in Portainer is not compared with a commit",
                                  f"{stack}@{host.name}", DIRECT_GUARD, _direct_remedy(inventory)))
    return found


DIRECT_GUARD = ("the container specs (image pinned, ports, privileges, mounts) each run, and bootstrap's compose "
                "config hash each time it runs")


def _direct_remedy(inventory: Inventory) -> str:
    if inventory.git is None:
        return "add a `git:` section (the repository Portainer clones), then `python -m bootstrap phase4`"
    return "set `git.deploy: portainer` (a Git server the platform VM reaches), then `python -m bootstrap phase4`"
