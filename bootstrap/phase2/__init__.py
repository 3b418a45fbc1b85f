"""Bootstrap phase 2: the Portainer Agent on Unraid and the Proxmox Docker VMs.
`python -m bootstrap phase2 --inventory PATH [--dry-run]`.

On every host with the `agent` stack, in order: Docker and compose; the agent stack's files (`.env` with the
shared AGENT_SECRET); deploy, and wait until the agent answers its own /ping; the firewall (9001 from the
platform VM only: ufw and DOCKER-USER on the Proxmox VMs, DOCKER-USER persisted in /boot/config/go on Unraid).
Then in Portainer: the platform's own Docker environment and one agent environment per host, with the
inventory's group and tags, each refreshed by a snapshot and up.
"""

from __future__ import annotations

from bootstrap import engine, environments, hostfirewall, sshd
from bootstrap.remote import Remote
from bootstrap.services.portainer import PortainerAccess
from bootstrap.stack import Stack, deploy_step, files_step
from bootstrap.steps import Parallel, Plan, Step
from homelab.clients.environments import agent_port
from homelab.model.inventory import Inventory
from homelab.model.secrets import Secrets
from homelab.transport.ssh import SSHPool

STACK = "agent"


def agent_answers(remote: Remote, port: int) -> bool:
    """The agent answers GET /ping with 204 on the host itself (its certificate is self-signed: -k)."""
    code = remote.try_run(f"curl -sk -o /dev/null -w '%{{http_code}}' --max-time 3 https://127.0.0.1:{port}/ping",
                          root=False).stdout.strip()
    return code == "204"


def steps(inventory: Inventory, secrets: Secrets, pool: SSHPool) -> Plan:
    port = agent_port(inventory)
    agents = inventory.hosts_with_stack(STACK)
    found: list[tuple[Step, ...]] = []
    for host in agents:  # each host's steps in order, the hosts at once
        remote = Remote(inventory, secrets, pool, host)
        stack = Stack(remote, STACK)
        found.append((
            *engine.steps(remote),
            files_step(stack),
            deploy_step(stack, lambda r=remote: agent_answers(r, port),  # type: ignore[misc]
                        f"the agent does not answer https://127.0.0.1:{port}/ping"),
            *sshd.steps(remote),
            *hostfirewall.steps(remote),
        ))
    access = PortainerAccess(Remote(inventory, secrets, pool, inventory.platform_host))
    hosts = [inventory.platform_host, *agents]
    # The groups and tags first, then every environment at once (registered, and up after a snapshot).
    return [Parallel(tuple(found)), environments.placement_step(access, hosts),
            Parallel(tuple((step,) for step in environments.steps(access, hosts)))]
