"""The first step on every host: Docker Engine 25 or later and Docker Compose 2.20.2 or later (installed from
Docker's own apt repository on Debian and Ubuntu if absent).

Those are the floors because the stacks' healthchecks use `start_interval` (a container is healthy seconds after
it is ready, not after its first 30 s interval), which the engine honours from 25 and compose accepts from 2.20.2,
and the GPU workers request their GPU through CDI (engine 25). An older engine or compose stops bootstrap with one
line saying what to upgrade, before any stack is deployed.
"""

from __future__ import annotations

import re

from bootstrap.remote import Remote
from bootstrap.steps import Step, StepFailed

CHECK = "docker version --format '{{.Server.Version}}' && docker compose version --short"

KEYRING = "/etc/apt/keyrings/docker.asc"
# Docker's own packages from download.docker.com, added as bootstrap/windows/wsl2-setup.sh adds them: Debian 12's
# docker.io is 20.10, and the distributions' compose packages differ in name and age. An engine already installed
# (compose missing, or dockerd stopped) is kept and only compose added: docker-ce conflicts with docker.io, and apt
# would swap the engine under the host's containers. The check afterwards judges the engine's version.
INSTALL = (
    "export DEBIAN_FRONTEND=noninteractive; . /etc/os-release && "
    "apt-get update -q && apt-get install -y -q ca-certificates curl && install -m 0755 -d /etc/apt/keyrings && "
    f'curl -fsSL "https://download.docker.com/linux/$ID/gpg" -o {KEYRING} && chmod a+r {KEYRING} && '
    f'echo "deb [arch=$(dpkg --print-architecture) signed-by={KEYRING}] https://download.docker.com/linux/$ID '
    '${VERSION_CODENAME:?} stable" > /etc/apt/sources.list.d/docker.list && apt-get update -q && '
    "if command -v dockerd >/dev/null; then packages=docker-compose-plugin; "
    "else packages='docker-ce docker-ce-cli containerd.io docker-compose-plugin'; fi && "
    "apt-get install -y -q $packages && "
    "{ systemctl enable --now docker 2>/dev/null || service docker start; }")


MINIMUM = 25
COMPOSE_MINIMUM = (2, 20, 2)  # the first compose that accepts healthcheck start_interval


def too_old(version: str) -> bool:
    """Whether `docker version`'s server version (`26.1.5+dfsg1`, `24.0.7`) is below MINIMUM."""
    major = version.strip().split(".", 1)[0]
    return major.isdigit() and int(major) < MINIMUM


def compose_too_old(version: str) -> bool:
    """Whether `docker compose version --short` (`2.26.1`, `v2.20.2`, `2.24.6+ds1-0ubuntu1~22.04.1`) is below
    COMPOSE_MINIMUM; a version that does not read as numbers is not judged."""
    found = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", version.strip())
    return found is not None and tuple(int(part or 0) for part in found.groups()) < COMPOSE_MINIMUM


def _fix(remote: Remote, what: str) -> str:
    """What the operator does about an engine (`what` "engine") or compose that is too old, on this host."""
    if remote.host.platform == "unraid":
        return "upgrade to Unraid 7 or later" if what == "engine" else "update the Compose Manager plugin (Apps)"
    if remote.host.os not in ("debian", "ubuntu"):
        return "install Docker's own packages (docker-ce, docker-compose-plugin)"
    # Ubuntu's compose v2 package is docker-compose-v2, Debian's docker-compose; apt refuses a name it does not know.
    old = "docker.io" if what == "engine" else "docker-compose-v2" if remote.host.os == "ubuntu" else "docker-compose"
    new = "docker-ce and docker-compose-plugin" if what == "engine" else "docker-compose-plugin"
    return (f"remove the distribution's package (`apt-get remove {old}`) and run again: bootstrap then installs "
            f"Docker's own {new} from download.docker.com")


def refusal(remote: Remote, engine: str, compose: str) -> str | None:
    """The one line that stops bootstrap when the engine or compose found is below its floor, else None."""
    host = remote.host.name
    if too_old(engine):
        return (f"Docker Engine {engine} on {host} is older than {MINIMUM}, which the stacks need "
                f"(healthcheck start_interval, CDI): {_fix(remote, 'engine')}")
    if compose_too_old(compose):
        floor = ".".join(map(str, COMPOSE_MINIMUM))
        return (f"Docker Compose {compose} on {host} is older than {floor}, which the stacks need "
                f"(healthcheck start_interval): {_fix(remote, 'compose')}")
    return None


def steps(remote: Remote) -> list[Step]:
    def check() -> bool:
        result = remote.try_run(CHECK)
        lines = [line.strip() for line in result.stdout.splitlines()] + ["", ""]
        if result.ok and (problem := refusal(remote, lines[0], lines[1])):
            raise StepFailed(problem)
        return result.ok

    def apply() -> None:
        if remote.host.platform == "unraid":
            raise StepFailed(f"Docker or compose v2 is missing on {remote.host.name} (Unraid): enable Docker in "
                             "Settings > Docker and install the Compose Manager plugin (Apps), then run again")
        if remote.host.os not in ("debian", "ubuntu"):
            raise StepFailed(f"Docker is missing on {remote.host.name} ({remote.host.os}); bootstrap installs it "
                             "on Debian and Ubuntu only: install Docker and compose v2 by hand, then run again")
        remote.run(INSTALL, timeout=900, what="apt-get install docker-ce (download.docker.com)")

    return [Step("Docker engine and compose v2", remote.host.name, check, apply)]
