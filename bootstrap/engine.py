"""Phase 1, step 1: the Docker engine and compose v2 on the platform host (installed with apt if absent)."""

from __future__ import annotations

from bootstrap.phase1.remote import Platform
from bootstrap.steps import Step, StepFailed

CHECK = "docker version --format '{{.Server.Version}}' && docker compose version --short"
# Docker's own repository names the plugin docker-compose-plugin, Ubuntu docker-compose-v2, Debian 13
# docker-compose (compose v2 there; Debian 12's docker-compose is v1 and fails the check afterwards).
INSTALL = ("export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q docker.io && "
           "{ apt-get install -y -q docker-compose-plugin || apt-get install -y -q docker-compose-v2 || "
           "apt-get install -y -q docker-compose; } && "
           "{ systemctl enable --now docker 2>/dev/null || service docker start; }")


def steps(platform: Platform) -> list[Step]:
    def check() -> bool:
        return platform.try_run(CHECK).ok

    def apply() -> None:
        if platform.host.os not in ("debian", "ubuntu"):
            raise StepFailed(f"Docker is missing on {platform.host.name} ({platform.host.os}); bootstrap installs it "
                             "on Debian and Ubuntu only: install Docker and compose v2 by hand, then run again")
        platform.run(INSTALL, timeout=900, what="apt-get install docker.io")

    return [Step("Docker engine and compose v2", platform.host.name, check, apply)]
