"""Bootstrap phase 1: the platform VM. `python -m bootstrap phase1 --inventory PATH [--dry-run]`.

Steps on the inventory's platform host, in order: Docker and compose; the platform stack's files; deploy
and wait until healthy; Portainer's admin and API token; DNS (Technitium); the reverse proxy (NPM, TLS);
the firewall last, so that nothing before it depends on a port it closes.
"""

from __future__ import annotations

from bootstrap import engine, hostfirewall, sshd
from bootstrap.phase1 import dns
from bootstrap.remote import Remote
from bootstrap.services import portainer, proxy
from bootstrap.stack import Stack, deploy_step, files_step
from bootstrap.steps import Plan
from bootstrap.trust import TRUSTED_CAS, trusted_cas
from homelab.model.inventory import Inventory
from homelab.model.secrets import Secrets
from homelab.transport.ssh import SSHPool


def steps(inventory: Inventory, secrets: Secrets, pool: SSHPool) -> Plan:
    platform = Remote(inventory, secrets, pool, inventory.platform_host)
    access = portainer.PortainerAccess(platform)
    # Portainer trusts the homelab's CAs to verify the Git server it clones the stacks from (SSL_CERT_FILE)
    stack = Stack(platform, "platform", generated=lambda: {TRUSTED_CAS: trusted_cas(inventory)})
    return [
        *engine.steps(platform),
        files_step(stack),
        deploy_step(stack, access.answers, f"Portainer does not answer GET /api/system/status on {access.port}"),
        *portainer.steps(platform),
        *dns.steps(inventory, secrets, pool),
        *proxy.steps(inventory, secrets, pool),
        *sshd.steps(platform),
        *hostfirewall.steps(platform),
    ]
