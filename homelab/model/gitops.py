"""Which stacks Portainer deploys from Git (docs/gitops.md), read by bootstrap (bootstrap.gitstacks,
bootstrap.edgestacks) and the specs (tests/gitops) alike.

Portainer manages `monitoring` and `exporters` as Git stacks in the platform's and the agents' environments, and
`gpu-worker` and `exporters` as Edge stacks on the Edge hosts (the gaming PCs), whose agents fetch them when they
poll. It cannot deploy `platform` (which holds Portainer itself), nor `agent` and `edge-agent` (it reaches a host
through them). With `git.deploy: direct` bootstrap deploys every stack itself.

An Edge stack is one per stack for all its hosts (Portainer CE's Edge stack names are unique), aimed at the
static Edge group `homelab-<stack>`; its agents run it as compose project `edge_<stack>` (agent 2.23.0,
edge/stack/stack.go). Portainer CE clones an Edge stack's repository once, at creation, and never polls it:
bootstrap keeps it at the reference (docs/design/edge-stacks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from homelab.model.inventory import Host, Inventory

MANAGED = ("monitoring", "exporters")      # Git stacks, in the environments of the platform and the agents
EDGE_MANAGED = ("gpu-worker", "exporters")  # Edge stacks, on the Edge hosts
EDGE_ROLE = "edge"
EDGE_PROJECT_PREFIX = "edge_"  # the agent's compose project: edge_<Edge stack name>
EDGE_GROUP_PREFIX = "homelab-"


def portainer_deploys(inventory: Inventory, host: Host, stack: str) -> bool:
    """Portainer deploys `stack` on `host` from Git, as a Git stack or an Edge stack (else bootstrap runs docker
    compose there itself)."""
    git = inventory.git
    if git is None or git.deploy != "portainer" or stack not in host.stacks:
        return False
    return stack in (EDGE_MANAGED if host.role == EDGE_ROLE else MANAGED)


def edge_deploys(inventory: Inventory, host: Host, stack: str) -> bool:
    """`stack` runs on `host` as an Edge stack, fetched by the host's Edge agent."""
    return host.role == EDGE_ROLE and portainer_deploys(inventory, host, stack)


def project(inventory: Inventory, host: Host, stack: str) -> str:
    """The compose project `stack`'s containers carry on `host`."""
    return EDGE_PROJECT_PREFIX + stack if edge_deploys(inventory, host, stack) else stack


def stack_of_project(inventory: Inventory, host: Host, name: str | None) -> str | None:
    """The stack a compose project on `host` is (`edge_gpu-worker` on an Edge host is gpu-worker), else the name."""
    if name and name.startswith(EDGE_PROJECT_PREFIX):
        stack = name.removeprefix(EDGE_PROJECT_PREFIX)
        if edge_deploys(inventory, host, stack):
            return stack
    return name


def edge_group(stack: str) -> str:
    """The static Edge group an Edge stack is aimed at: the Edge environments of the hosts it runs on."""
    return EDGE_GROUP_PREFIX + stack


@dataclass(frozen=True)
class GitStack:
    """One stack Portainer deploys from Git on one host (a spec target: `each("gitstack")`); `edge`: an Edge
    stack fetched by the host's Edge agent, else a Git stack in the host's environment."""

    name: str
    host: Host
    phase: int
    edge: bool = False

    @property
    def id(self) -> str:
        return f"{self.name}@{self.host.name}"

    @property
    def project(self) -> str:
        return EDGE_PROJECT_PREFIX + self.name if self.edge else self.name


def git_stacks(inventory: Inventory) -> list[GitStack]:
    """Every (stack, host) Portainer deploys from Git, with the phase its services belong to."""
    phases: dict[str, int] = {}
    for service in inventory.services.values():
        phases[service.stack] = min(phases.get(service.stack, service.phase), service.phase)
    return [GitStack(stack, host, phases.get(stack, 4), host.role == EDGE_ROLE)
            for host in inventory.hosts.values() for stack in host.stacks
            if portainer_deploys(inventory, host, stack)]


def edge_stack_hosts(inventory: Inventory) -> dict[str, list[Host]]:
    """Each Edge stack and the hosts the inventory runs it on, in the inventory's order."""
    found: dict[str, list[Host]] = {}
    for stack in git_stacks(inventory):
        if stack.edge:
            found.setdefault(stack.name, []).append(stack.host)
    return found
