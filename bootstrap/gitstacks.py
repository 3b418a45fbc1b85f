"""Stacks Portainer deploys from Git (docs/gitops.md; which ones: homelab.model.gitops): each is a Portainer Git stack
in its host's environment, of the inventory's repository, reference and `stacks/NAME/compose.yaml`, with the stack's
variables as its Env and GitOps polling (`git.poll`), and it runs the reference's current commit.

Idempotent: a missing stack is created (Portainer clones and deploys it), one whose Git settings or Env differ
is updated and redeployed, one behind the reference is redeployed; never duplicated. The stack's files stay on
the host too (bootstrap.stack.files_step): the Prometheus and Grafana configuration is bind-mounted from there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from bootstrap.environments import portainer_api
from bootstrap.services.portainer import PortainerAccess
from bootstrap.stack import WAIT, Ready, Stack, env_names, is_ready, wait_healthy
from bootstrap.steps import Step, StepFailed
from homelab.clients.gitremote import GitRemoteError, ref_commit
from homelab.clients.portainer import Portainer, PortainerError
from homelab.model.compose import ComposeError, load_stack
from homelab.model.inventory import GitSource


def unreachable_fix(git: GitSource) -> str:
    return (f"make {git.repository} reachable from the platform VM (its name resolves there, e.g. `git.address` for "
            "Technitium; its certificate verifies against settings.ca_bundle; credentials in git.username and "
            "git.password_secret), push the reference, or set `git.deploy: direct` in the inventory")


@dataclass
class GitStack:
    stack: Stack              # the stack on its host: its variables, its containers
    access: PortainerAccess

    @property
    def git(self) -> GitSource:
        assert self.stack.remote.inventory.git is not None
        return self.stack.remote.inventory.git

    @property
    def where(self) -> str:
        return f"{self.stack.name} on {self.stack.host}"

    def password(self) -> str:
        return self.stack.remote.secrets.get(self.git.password_secret) if self.git.password_secret else ""

    def env(self) -> list[dict[str, str]]:
        example = self.stack.source / ".env.example"
        names = env_names(example) if example.exists() else []
        return [{"name": n, "value": self.stack.env_value(n)} for n in names]

    def auto_update(self) -> dict[str, Any] | None:
        if not self.git.poll:
            return None
        return {"Interval": self.git.poll, "Webhook": "", "ForceUpdate": False, "ForcePullImage": False}

    def credentials(self) -> dict[str, Any]:
        auth = self.git.username is not None
        return {"RepositoryAuthentication": auth, "RepositoryUsername": self.git.username or "",
                "RepositoryPassword": self.password() if auth else ""}

    def create_payload(self) -> dict[str, Any]:
        """composeStackFromGitRepositoryPayload (api/http/handler/stacks/create_compose_stack.go, 2.23.0)."""
        return {"Name": self.stack.name, "RepositoryURL": self.git.repository,
                "RepositoryReferenceName": self.git.ref, "ComposeFile": self.git.compose_path(self.stack.name),
                "AdditionalFiles": [], **self.credentials(), "Env": self.env(), "TLSSkipVerify": False,
                "AutoUpdate": self.auto_update()}

    # -- what Portainer holds -------------------------------------------------------------------------------------
    def endpoint_id(self, portainer: Portainer) -> int:
        found = [e for e in portainer.endpoints() if e.get("Name") == self.stack.host]
        if not found:
            raise StepFailed(f"Portainer has no environment {self.stack.host}: run `python -m bootstrap phase2` "
                             "first (it registers every host)")
        return int(found[0]["Id"])

    def found(self, portainer: Portainer, endpoint: int) -> dict[str, Any] | None:
        return next((s for s in portainer.stacks(endpoint) if s.get("Name") == self.stack.name
                     and s.get("EndpointId") == endpoint), None)

    def head(self) -> str:
        try:
            return ref_commit(self.stack.remote.inventory, self.git, self.password())
        except GitRemoteError as exc:
            raise StepFailed(f"{self.where}: the Git server does not say where {self.git.ref} is: {exc}; fix: "
                             f"{unreachable_fix(self.git)}") from None

    def differences(self, found: dict[str, Any] | None, head: str) -> list[str]:
        """What keeps Portainer's stack from being the inventory's Git stack at `head`; empty when it is."""
        if found is None:
            return ["not in Portainer"]
        git = found.get("GitConfig") or {}
        wanted = {"URL": self.git.repository.rstrip("/"), "ReferenceName": self.git.ref,
                  "ConfigFilePath": self.git.compose_path(self.stack.name)}
        problems = [f"{key} {git.get(key)!r}" for key, value in wanted.items() if git.get(key) != value]
        if not git:
            problems.append("not from Git (a stack made in Portainer's editor)")
        interval = (found.get("AutoUpdate") or {}).get("Interval") or None
        if interval != self.git.poll:
            problems.append(f"polling {interval or 'off'}, not {self.git.poll or 'off'}")
        if {e.get("name"): e.get("value") for e in found.get("Env") or []} != \
                {e["name"]: e["value"] for e in self.env()}:
            problems.append("its Env differs from the stack's variables")
        if git and git.get("ConfigHash") != head:
            deployed = str(git.get("ConfigHash") or "")[:7] or "nothing"
            problems.append(f"runs {deployed}, {self.git.ref} is at {head[:7]}")
        return problems

    @property
    def project(self) -> str:
        """`docker ps` filter for the stack's containers (its compose project is the stack's name)."""
        return f"label=com.docker.compose.project={self.stack.name}"

    def services(self) -> list[str]:
        try:
            return list(load_stack(self.stack.name).services)
        except ComposeError as exc:
            raise StepFailed(str(exc)) from None

    def unhealthy(self) -> list[str]:
        """The stack's services without a running, healthy container on the host."""
        services = self.services()
        running = self.stack.containers()
        problems = []
        for service in services:
            found = running.get(service)
            if found is None:
                problems.append(f"{service}: no container")
            elif found[1] != "running" or found[2] not in ("healthy", "none"):
                problems.append(f"{service}: {found[1]} {found[2]}")
        return problems

    # -- the change -----------------------------------------------------------------------------------------------
    def take_over(self) -> None:
        """The project runs on the host without a Portainer stack (deployed directly, or its environment was made
        anew): Portainer refuses a stack whose name runs there, so its containers go first (volumes stay)."""
        if not self.stack.remote.try_run(f"docker ps -aq --filter {self.project}").stdout.strip():
            return
        print(f"    taking over {self.where}: it runs without a Portainer stack; its containers are removed (volumes "
              "stay) so that Portainer deploys it from Git", flush=True)
        self.stack.remote.run(f"docker ps -aq --filter {self.project} | xargs -r docker rm -f", what="docker rm")

    def start_stopped(self) -> bool:
        """When every service has a container and some are merely stopped, start them (what Portainer deployed
        stays as it is: nothing in Git changed, so nothing is recreated); False when that is not the case."""
        running = self.stack.containers()
        services = self.services()
        if any(service not in running for service in services):
            return False
        self.stack.remote.run(f"docker ps -aq --filter {self.project} --filter status=exited --filter status=created | "
                              "xargs -r docker start", what="docker start")
        return True

    def apply(self) -> None:
        head = self.head()  # the Git server answers first: its error names the fix, Portainer's would not
        with portainer_api(self.access) as portainer:
            endpoint = self.endpoint_id(portainer)
            found = self.found(portainer, endpoint)
            if found is not None and not self.differences(found, head) and not self.foreign(found) and \
                    self.start_stopped():
                return
            try:
                if found is not None and not found.get("GitConfig"):
                    # Made or edited in Portainer's editor (which detaches it from Git): Git is the source of
                    # truth, so it is replaced (compose down, then made again from the repository).
                    print(f"    replacing {self.where}: Portainer holds it detached from Git (edited in its editor)",
                          flush=True)
                    portainer.delete_stack(int(found["Id"]), endpoint)
                    found = None
                if found is None:
                    self.take_over()
                    portainer.create_git_stack(endpoint, self.create_payload())
                    return
                settings = {"AutoUpdate": self.auto_update(), "Env": self.env(), "Prune": True,
                            "RepositoryReferenceName": self.git.ref, **self.credentials(), "TLSSkipVerify": False}
                portainer.update_git_stack(int(found["Id"]), endpoint, settings)
                portainer.redeploy_git_stack(int(found["Id"]), endpoint, {
                    "RepositoryReferenceName": self.git.ref, **self.credentials(), "Env": self.env(),
                    "Prune": True, "PullImage": False, "StackName": self.stack.name})
            except PortainerError as exc:
                raise StepFailed(f"Portainer could not deploy {self.where} from {self.git.repository} "
                                 f"({self.git.ref}): {exc}; fix: {unreachable_fix(self.git)}") from None

    def foreign(self, found: dict[str, Any]) -> list[str]:
        """The stack's containers that Portainer's deployment did not make (recreated by hand on the host with
        other files, an override, other settings): their compose files are not the ones Portainer deploys."""
        wanted = ",".join(os.path.join(str(found.get("ProjectPath", "")), name)
                          for name in [str(found.get("EntryPoint", "")), *(found.get("AdditionalFiles") or [])])
        label = "com.docker.compose.project.config_files"
        out = self.stack.remote.try_run(
            f"docker ps -a --filter {self.project} "
            f"--format '{{{{.Names}}}} {{{{.Label \"{label}\"}}}}'").stdout
        return [line.split()[0] for line in out.splitlines() if line.strip() and line.split(" ", 1)[-1] != wanted]

    def done(self) -> bool:
        head = self.head()
        with portainer_api(self.access) as portainer:
            found = self.found(portainer, self.endpoint_id(portainer))
        return (found is not None and not self.differences(found, head) and not self.foreign(found)
                and not self.unhealthy())


def git_stack_step(stack: Stack, access: PortainerAccess, ready: Ready = lambda: True, not_ready: str = "") -> Step:
    """Portainer deploys the stack from Git; then wait (bounded) for its containers and for `ready`."""
    managed = GitStack(stack, access)

    def check() -> bool:
        return managed.done() and is_ready(ready)

    def apply() -> None:
        managed.apply()
        wait_healthy(managed.unhealthy, ready, not_ready,
                     lambda why: f"{managed.where}, deployed by Portainer from Git, is not healthy after {WAIT:.0f} "
                                 f"s: {why}; see the stack in Portainer and `docker compose -p {stack.name} logs` on "
                                 f"{stack.host}")

    git = access.platform.inventory.git
    source = f"{git.repository} {git.ref}" if git else "Git"
    return Step(f"Portainer deploys the {stack.name} stack from {source}", stack.host, check, apply)
