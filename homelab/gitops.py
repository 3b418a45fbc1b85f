"""Which stacks Portainer deploys from Git (docs/gitops.md), read by bootstrap (bootstrap.gitstacks) and the specs
(tests/gitops) alike.

Portainer manages `monitoring` and `exporters`. It cannot deploy `platform` (which holds Portainer itself), nor
`agent` and `edge-agent` (it reaches a host through them); `gpu-worker` runs on Edge hosts, which Portainer CE
reaches only through the tunnel their agent opens on demand, so bootstrap deploys it directly and the report
lists that as an accepted risk (homelab.risks). With `git.deploy: direct` bootstrap deploys every stack itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from homelab.inventory import Host, Inventory

MANAGED = ("monitoring", "exporters")
EDGE_ROLE = "edge"


def portainer_deploys(inventory: Inventory, host: Host, stack: str) -> bool:
    """Portainer deploys `stack` on `host` from Git (else bootstrap runs docker compose there itself)."""
    git = inventory.git
    return git is not None and git.deploy == "portainer" and stack in MANAGED and host.role != EDGE_ROLE


@dataclass(frozen=True)
class GitStack:
    """One stack Portainer deploys from Git on one host (a spec target: `each("gitstack")`)."""

    name: str
    host: Host
    phase: int

    @property
    def id(self) -> str:
        return f"{self.name}@{self.host.name}"


def git_stacks(inventory: Inventory) -> list[GitStack]:
    """Every (stack, host) Portainer deploys from Git, with the phase its services belong to."""
    phases: dict[str, int] = {}
    for service in inventory.services.values():
        phases[service.stack] = min(phases.get(service.stack, service.phase), service.phase)
    return [GitStack(stack, host, phases.get(stack, 4)) for host in inventory.hosts.values() for stack in host.stacks
            if portainer_deploys(inventory, host, stack)]
