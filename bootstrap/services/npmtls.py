"""NPM's TLS versions, repaired by behaviour: every name NPM serves once the phase is applied refuses TLS 1.0 and
1.1 (asked as NAME-TLS-003 asks, from this machine with each name as SNI).

NPM writes its protocols in files of its image (conf.d/include/ssl-ciphers.conf), never in its database, so a
hand edit survives restarts but not a new container: the repair recreates NPM's container from its image (its
/data and /etc/letsencrypt volumes keep every proxy host and certificate) and waits until it is healthy.
"""

from __future__ import annotations

import ssl
import time

from bootstrap.remote import Remote
from bootstrap.stack import Stack
from bootstrap.steps import Step, StepFailed
from homelab.checks.reach import service_host
from homelab.checks.tls import TlsUnobserved, legacy
from homelab.model.inventory import Inventory
from homelab.model.secrets import Secrets
from homelab.transport.ssh import SSHPool

LEGACY = (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1)
WAIT = 90.0


def accepting(inventory: Inventory, names: list[str]) -> list[str]:
    """`NAME TLSv1...` for each name and legacy version NPM completes a handshake with."""
    npm = str(service_host(inventory, "npm").address)
    found = []
    for name in names:
        for version in LEGACY:
            try:
                if legacy(npm, name, version, inventory.settings.connect_timeout) is not None:
                    found.append(f"{name} {version.name}")
            except TlsUnobserved as exc:
                raise StepFailed(f"cannot tell whether NPM accepts {version.name} for {name}: {exc}") from None
    return found


def _recreate(remote: Remote, names: list[str]) -> None:
    stack = Stack(remote, "platform")
    remote.run(f"{stack.compose()} up -d --force-recreate --no-deps npm", timeout=300, what="recreating NPM")
    deadline = time.monotonic() + WAIT
    health = "docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' npm"
    while time.monotonic() < deadline:  # healthy, and every name answering TLS 1.2+ only
        if remote.try_run(health).stdout.strip() in ("healthy", "none"):
            try:
                if not accepting(remote.inventory, names):
                    return
            except StepFailed:
                pass
        time.sleep(1)
    still = "; ".join(accepting(remote.inventory, names))
    raise StepFailed(f"NPM was recreated, but {WAIT:g} s later it still accepts {still}: its image itself allows "
                     "them; see conf.d/include/ssl-ciphers.conf in the image and `docker logs npm`")


def steps(inventory: Inventory, secrets: Secrets, pool: SSHPool, names: list[str]) -> list[Step]:
    host = service_host(inventory, "npm")
    remote = Remote(inventory, secrets, pool, host)

    def done() -> bool:
        try:
            return not accepting(inventory, names)
        except StepFailed:  # NPM answers no TLS yet (a fresh host in a dry run): not done; applying says why
            return False

    return [Step("NPM refuses TLS 1.0 and 1.1 for every name (else its container is recreated from its image)",
                 f"{host.name}/npm", done, lambda: _recreate(remote, names))]
