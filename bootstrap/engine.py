"""The first step on every host: the Docker engine (25 or later) and compose v2 (installed with apt if absent).

Engine 25 is the floor: the stacks' healthchecks use `start_interval` (a container is healthy seconds after it is
ready, not after its first 30 s interval), and the GPU workers request their GPU through CDI. An older engine
stops bootstrap with one line saying what to upgrade, before any stack is deployed.
"""

from __future__ import annotations

from bootstrap.remote import Remote
from bootstrap.steps import Step, StepFailed

CHECK = "docker version --format '{{.Server.Version}}' && docker compose version --short"
# Docker's own repository names the plugin docker-compose-plugin, Ubuntu docker-compose-v2, Debian 13
# docker-compose (compose v2 there; Debian 12's docker-compose is v1 and fails the check afterwards).
INSTALL = ("export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q docker.io && "
           "{ apt-get install -y -q docker-compose-plugin || apt-get install -y -q docker-compose-v2 || "
           "apt-get install -y -q docker-compose; } && "
           "{ systemctl enable --now docker 2>/dev/null || service docker start; }")


MINIMUM = 25


def too_old(version: str) -> bool:
    """Whether `docker version`'s server version (`26.1.5+dfsg1`, `24.0.7`) is below MINIMUM."""
    major = version.strip().split(".", 1)[0]
    return major.isdigit() and int(major) < MINIMUM


def steps(remote: Remote) -> list[Step]:
    def check() -> bool:
        result = remote.try_run(CHECK)
        version = (result.stdout.splitlines() or [""])[0].strip()
        if result.ok and too_old(version):
            upgrade = ("upgrade to Unraid 7 or later" if remote.host.platform == "unraid" else
                       "install Docker's own packages (docker-ce, docker-compose-plugin)")
            raise StepFailed(f"Docker Engine {version} on {remote.host.name} is older than {MINIMUM}, which the "
                             f"stacks need (healthcheck start_interval, CDI): {upgrade}")
        return result.ok

    def apply() -> None:
        if remote.host.platform == "unraid":
            raise StepFailed(f"Docker or compose v2 is missing on {remote.host.name} (Unraid): enable Docker in "
                             "Settings > Docker and install the Compose Manager plugin (Apps), then run again")
        if remote.host.os not in ("debian", "ubuntu"):
            raise StepFailed(f"Docker is missing on {remote.host.name} ({remote.host.os}); bootstrap installs it "
                             "on Debian and Ubuntu only: install Docker and compose v2 by hand, then run again")
        remote.run(INSTALL, timeout=900, what="apt-get install docker.io")

    return [Step("Docker engine and compose v2", remote.host.name, check, apply)]
