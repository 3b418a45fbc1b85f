"""What every fault is and acts on: `Fault` (a named, reversible break of one constraint, and the specs that
must catch it) and `Lab` (shells in the lab's machines and its services' APIs).

Each fault says which specs must catch it (`catches`, JUnit test names) and which may fail with it as a
direct consequence (`also`, with the reason in `why`). The proofs (selftests/proof/) break each fault
in turn, run the phase's specs and check exactly those fail; then they undo it and re-apply bootstrap.
Faults act as root inside the lab's containers (`docker exec`), and on the APIs with the lab's secrets.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from homelab.clients import connect
from homelab.clients.npm import Npm
from homelab.clients.portainer import Portainer
from homelab.clients.portainer_edge import RUNNING, EdgeApi, last_status
from homelab.clients.technitium import Technitium
from homelab.model.gitops import EDGE_PROJECT_PREFIX
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.secrets import Secrets
from lab.docker import LabError, docker
from lab.topology import LAB_DIR, machine

SAVED = LAB_DIR / "faults"           # what a fault saved to undo itself
EDGE_AGENT = "portainer-edge-agent"  # the Edge agent's container on a gaming PC (stacks/edge-agent)


def _reported(stack: dict[str, Any], endpoint: int) -> float:
    """When the environment's agent last reported on the Edge stack (Unix time; 0 when never)."""
    history = ((stack.get("Status") or {}).get(str(endpoint)) or {}).get("Status") or []
    return float(history[-1].get("Time") or 0) if history else 0.0


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    catches: tuple[str, ...]                  # JUnit test names that must fail
    apply: Callable[[Lab], object]
    revert: Callable[[Lab], object]
    also: tuple[str, ...] = ()                # may fail too, as a direct consequence
    why: str = ""
    restarts: bool = False                    # breaking it restarts containers: wait until healthy, then check
    phase: int = 1                            # the bootstrap phase that restores what `revert` leaves
    skips: tuple[str, ...] = ()               # a normal state, not a fault: tests whose name has one must skip
    skip_reason: str = ""                     # ... with this in their reason (and none may fail)
    skip_exempt: tuple[str, ...] = ()         # ... except these, which do not ask the host (`why` says so)
    proof: str = ""                           # the proof that breaks it: "" its phase's; "exposure": the paths'


@dataclass
class Lab:
    """The running lab, as faults need it: shells in its machines and its services' APIs."""

    inventory: Inventory = field(default_factory=lambda: load_inventory(LAB_DIR / "inventory.yaml"))

    @property
    def secrets(self) -> Secrets:
        return Secrets(self.inventory.secrets, self.inventory.settings.env_file)

    def sh(self, name: str, command: str, timeout: float = 120) -> str:
        return docker("exec", machine(name).container, "sh", "-c", command, timeout=timeout)

    def label(self, container: str, key: str, host: str = "platform") -> str:
        labels = json.loads(self.sh(host, f"docker inspect --format '{{{{json .Config.Labels}}}}' {container}"))
        return str(labels.get(key, ""))

    def compose(self, container: str, *extra_files: str, host: str = "platform", drop: tuple[str, ...] = ()) -> str:
        """`docker compose` for the project `container` belongs to on `host`, with its own files and env file; for
        a project Portainer deployed from Git (its files are in Portainer's container), the copy bootstrap keeps on
        the host, /opt/homelab/stacks/PROJECT: as someone would run compose by hand there. For an Edge stack
        (project edge_NAME) the files are in the Edge agent's container, with docker-compose and the stack's
        variables: run the command there (`sh_project`). `drop`: files of an earlier fault, left out."""
        files = [f for f in self.label(container, "com.docker.compose.project.config_files", host).split(",")
                 if f and f not in drop]
        env = self.label(container, "com.docker.compose.project.environment_file", host)
        project = self.label(container, "com.docker.compose.project", host)
        every = [a for f in (*files, *extra_files) for a in ("-f", f)]
        if project.startswith(EDGE_PROJECT_PREFIX):
            return shlex.join(["docker-compose", "-p", project, *every])
        if files and self.sh(host, f"test -f {shlex.quote(files[0])} && echo yes || true").strip() != "yes":
            files, env = [f"/opt/homelab/stacks/{project}/compose.yaml"], f"/opt/homelab/stacks/{project}/.env"
            every = [a for f in (*files, *extra_files) for a in ("-f", f)]
        args = ["docker", "compose", "-p", project, *every]
        return shlex.join(args + (["--env-file", env.split(",")[0]] if env else []))

    def sh_project(self, host: str, container: str, command: str, timeout: float = 300) -> str:
        """`command` where the compose files of `container`'s project are: on the host, or in the Edge agent's
        container for an Edge stack."""
        if self.label(container, "com.docker.compose.project", host).startswith(EDGE_PROJECT_PREFIX):
            command = f"docker exec {EDGE_AGENT} sh -c {shlex.quote(command)}"
        return self.sh(host, command, timeout=timeout)

    def wait_edge_running(self, host: str, since: float, limit: float = 120) -> None:
        """Until the Edge agent of `host` reports every Edge stack aimed at it Running (7) at `since` or later (a
        Unix time): after the agent was recreated it deploys each stack again (3, 8, 1, 7)."""
        deadline = time.monotonic() + limit
        while True:
            with self.portainer() as portainer:
                endpoint = next(int(e["Id"]) for e in portainer.endpoints() if e["Name"] == host)
                groups = {g["Id"] for g in EdgeApi(portainer).groups() if endpoint in (g.get("Endpoints") or [])}
                waiting = [s["Name"] for s in EdgeApi(portainer).stacks() if groups & set(s.get("EdgeGroups") or [])
                           and (last_status(s, endpoint)[0] != RUNNING or _reported(s, endpoint) < since)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise LabError(f"the Edge agent on {host} does not report {', '.join(waiting)} Running after "
                               f"{limit:.0f} s")
            time.sleep(2)

    def wait_healthy(self, container: str, host: str = "platform", limit: float = 120) -> None:
        """Until `container` on `host` is healthy (or has no healthcheck and runs): a recreated container starts."""
        fmt = "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"
        deadline = time.monotonic() + limit
        while self.sh(host, f"docker inspect --format '{fmt}' {container} 2>&1 || true").strip() not in (
                "healthy", "running"):
            if time.monotonic() > deadline:
                raise LabError(f"{container} on {host} is not healthy {limit:.0f} s after it was recreated")
            time.sleep(2)

    def technitium(self) -> Technitium:
        """Technitium's API, logged in as admin (the project's own client: homelab.clients.connect)."""
        return connect.technitium(self.inventory, self.secrets, timeout=10)

    def npm(self) -> Npm:
        """NPM's admin API, logged in with the lab's admin (the project's own client: homelab.clients.connect)."""
        return connect.npm(self.inventory, self.secrets, timeout=20)

    def portainer(self) -> Portainer:
        """Portainer's API, pinned and authenticated as bootstrap left it (homelab.clients.connect)."""
        return connect.portainer(self.inventory, self.secrets, timeout=20)
