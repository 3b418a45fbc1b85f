"""Bootstrap phase 1: the platform VM. `python -m bootstrap phase1 --inventory PATH [--dry-run]`.

Steps on the inventory's platform host, in order: Docker and compose; the platform stack's files; deploy
and wait until healthy; Portainer's admin and API token; DNS (Technitium); the reverse proxy (NPM, TLS);
the firewall last, so that nothing before it depends on a port it closes.
"""

from __future__ import annotations

from bootstrap.phase1 import deploy, dns, docker, firewall, portainer, proxy
from bootstrap.phase1.remote import Platform
from bootstrap.steps import Step
from homelab.inventory import Inventory
from homelab.secrets import Secrets
from homelab.ssh import SSHPool


def steps(inventory: Inventory, secrets: Secrets, pool: SSHPool) -> list[Step]:
    platform = Platform(inventory, secrets, pool, inventory.platform_host)
    access = portainer.PortainerAccess(platform)
    return [
        *docker.steps(platform),
        *deploy.stack_steps(platform),
        *deploy.deploy_steps(platform, access.answers),
        *portainer.steps(platform),
        *dns.steps(inventory, secrets, pool),
        *proxy.steps(inventory, secrets, pool),
        *firewall.steps(platform),
    ]
