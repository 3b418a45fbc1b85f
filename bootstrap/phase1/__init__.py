"""Bootstrap phase 1: the platform VM. `python -m bootstrap phase1 --inventory PATH [--dry-run]`.

Steps on the inventory's platform host, in order: Docker and compose; the platform stack's files; deploy
and wait until healthy; Portainer's admin and API token; DNS (Technitium); the reverse proxy (NPM, TLS);
the firewall last, so that nothing before it depends on a port it closes.
"""

from __future__ import annotations

from types import ModuleType

from bootstrap.phase1 import deploy, docker, firewall, portainer
from bootstrap.phase1.remote import Platform
from bootstrap.steps import Step
from homelab.inventory import Inventory
from homelab.secrets import Secrets
from homelab.ssh import SSHPool

# TEMPORARY (remove once bootstrap/phase1/dns.py and proxy.py are on main): the DNS and NPM steps land in a
# parallel change; until then phase 1 runs without them.
dns: ModuleType | None
proxy: ModuleType | None
try:
    from bootstrap.phase1 import dns
except ImportError:
    dns = None
try:
    from bootstrap.phase1 import proxy
except ImportError:
    proxy = None


def steps(inventory: Inventory, secrets: Secrets, pool: SSHPool) -> list[Step]:
    platform = Platform(inventory, secrets, pool, inventory.platform_host)
    access = portainer.PortainerAccess(platform)
    return [
        *docker.steps(platform),
        *deploy.stack_steps(platform),
        *deploy.deploy_steps(platform, access.answers),
        *portainer.steps(platform),
        *(dns.steps(inventory, secrets, pool) if dns is not None else []),
        *(proxy.steps(inventory, secrets, pool) if proxy is not None else []),
        *firewall.steps(platform),
    ]
