"""Bootstrap phase 3: the GPU workers (Windows gaming PCs, Docker in WSL2).
`python -m bootstrap phase3 --inventory PATH [--dry-run]`.

For each host with the `edge-agent` stack that is on (an on-demand worker that is off is skipped, saying so):
Docker and compose; the GPU through CDI (checked, with what to install); its Edge environment in Portainer;
the Edge agent with that environment's key (it only dials out: no port); the gpu-worker stack (Ollama,
Open WebUI), unless the worker is in gaming mode; the firewall (Ollama and Open WebUI for LAN and VPN only).

With `git.deploy: portainer` the gpu-worker stack is an Edge stack that Portainer deploys from Git to every
worker not in gaming mode (bootstrap.edgestacks): each worker's Edge agent fetches it when it polls. With
`git.deploy: direct` bootstrap deploys it on each worker with docker compose. The Windows side (WSL2, its
settings) is bootstrap/windows/setup-gpu-worker.ps1 and docs/gpu-workers.md.
"""

from __future__ import annotations

import uuid

from bootstrap import edgestacks, engine, environments, hostfirewall, sshd
from bootstrap.phase3 import gpu
from bootstrap.remote import Remote, is_off
from bootstrap.services import proxy
from bootstrap.services.portainer import PortainerAccess
from bootstrap.stack import Stack, deploy_step, files_step
from bootstrap.steps import Parallel, Plan, Step, StepFailed
from bootstrap.trust import TRUSTED_CAS, trusted_cas
from homelab.checks import gaming
from homelab.checks.reach import service_host
from homelab.clients.environments import edge_poll_verified
from homelab.model.gitops import edge_deploys
from homelab.model.inventory import Host, Inventory
from homelab.model.redact import REDACTOR
from homelab.model.secrets import Secrets
from homelab.transport.ssh import SSHPool


def edge_id(inventory: Inventory, host: Host) -> str:
    """A stable Edge ID per homelab and host: re-running bootstrap never makes the agent a stranger."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"homelab:{inventory.name}:{host.name}"))


def _environment(access: PortainerAccess, host: Host) -> dict[str, object]:
    with environments.portainer_api(access) as portainer:
        return dict(environments.by_name(portainer).get(host.name) or {})


def adopted_edge_id(inventory: Inventory, access: PortainerAccess, host: Host) -> str:
    """The Edge ID the agent must send: the one Portainer holds for the environment, when it holds one (bound by
    an agent's first poll, or made at creation with the `EnforceEdgeID` setting: Portainer refuses any other
    with 403, api/http/security/bouncer.go at 2.23.0), else this homelab's own, which the first poll binds."""
    bound = str(_environment(access, host).get("EdgeID") or "")
    own = edge_id(inventory, host)
    if bound and bound != own:
        print(f"  note     {host.name}: Portainer holds Edge ID {bound} for its environment; the agent uses it")
    return bound or own


def edge_values(access: PortainerAccess, host: Host) -> str | None:
    """The EDGE_KEY Portainer made for the host's Edge environment (a credential: redacted from output)."""
    key = _environment(access, host).get("EdgeKey")
    if not key:
        raise StepFailed(f"Portainer has no Edge environment {host.name} with a key yet")
    REDACTOR.add(str(key))
    return str(key)


def worker_steps(inventory: Inventory, secrets: Secrets, pool: SSHPool, access: PortainerAccess,
                 host: Host) -> list[Step]:
    remote = Remote(inventory, secrets, pool, host)

    def own(name: str) -> str | None:
        if name == "EDGE_ID":
            return adopted_edge_id(inventory, access, host)
        if name == "EDGE_INSECURE_POLL":
            # Verified through NPM by Portainer's name; unverified only where Portainer has no name (its own 9443
            # is self-signed): an accepted risk the report lists (homelab.report.risks).
            return "0" if edge_poll_verified(inventory) else "1"
        if name == "DNS_SERVER":  # not a secret: Technitium, which resolves Portainer's name for the agent
            return str(service_host(inventory, "technitium").address)
        return edge_values(access, host) if name == "EDGE_KEY" else None

    agent = Stack(remote, "edge-agent", own, generated=lambda: {TRUSTED_CAS: trusted_cas(inventory)})
    found = [*engine.steps(remote), *gpu.steps(remote), *environments.steps(access, [host]),
             files_step(agent), deploy_step(agent)]
    worker = Stack(remote, gaming.STACK)
    try:
        state = gaming.read(remote.try_run)
    except gaming.GamingUnknown as exc:
        raise StepFailed(f"{host.name}: {exc}") from None
    if state.on:
        found.append(Step(f"gpu-worker stack left stopped: {state.describe()}", host.name, lambda: True,
                          lambda: None))
    elif not edge_deploys(inventory, host, gaming.STACK):  # else the Edge stack, after every worker's agent
        found += [files_step(worker), deploy_step(worker)]
    return [*found, *sshd.steps(remote), *hostfirewall.steps(remote)]


def steps(inventory: Inventory, secrets: Secrets, pool: SSHPool) -> Plan:
    access = PortainerAccess(Remote(inventory, secrets, pool, inventory.platform_host))
    # The workers at once, each one's steps in order, once the Portainer groups and tags they share exist.
    found: list[tuple[Step, ...]] = []
    on: list[Host] = []
    for host in inventory.hosts_with_stack("edge-agent"):
        off = is_off(pool, host)
        if off:
            print(f"  skipped  {host.name}: on-demand worker is off ({off}); run phase 3 again when it is on")
            continue
        on.append(host)
        found.append(tuple(worker_steps(inventory, secrets, pool, access, host)))
    edge = edgestacks.steps(inventory, secrets, pool, access, (gaming.STACK,))  # needs the workers' environments
    placement = [environments.placement_step(access, on)] if on else []
    return [*placement, Parallel(tuple(found)), *edge,
            *proxy.steps(inventory, secrets, pool, phase=3)]  # the workers' names: TLS, HSTS
