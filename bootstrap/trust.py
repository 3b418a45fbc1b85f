"""The CAs a container must trust to verify the homelab's own names (NPM's certificates, the Git server's): the
inventory's CA bundle, else this machine's system CAs (certificates from a public CA such as Let's Encrypt).

Stacks mount it as homelab-ca.crt and point SSL_CERT_FILE at it (Go and OpenSSL both read that variable): the
Edge agent to verify Portainer's name, Portainer to verify the Git server it clones the stacks from.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from bootstrap.steps import StepFailed
from homelab.model.inventory import Inventory

TRUSTED_CAS = "homelab-ca.crt"


def trusted_cas(inventory: Inventory) -> bytes:
    path = inventory.settings.ca_bundle or ssl.get_default_verify_paths().cafile
    if not path or not Path(path).is_file():
        raise StepFailed("no CA bundle to give the containers that verify the homelab's names: set "
                         "`settings.ca_bundle` to the CA that signs NPM's (and the Git server's) certificates")
    return Path(path).read_bytes()
