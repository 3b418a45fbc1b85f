"""Edge stacks from Git (docs/gitops.md; which ones: homelab.model.gitops): on the Edge hosts (the gaming PCs) Portainer
CE deploys `gpu-worker` and `exporters` as Edge stacks, which each host's Edge agent fetches when it polls and runs
as compose project `edge_<stack>`. Upstream facts: docs/design/edge-stacks.md.

One Edge stack per stack, aimed at the static Edge group `homelab-<stack>` whose members are the Edge
environments of the hosts the inventory runs it on (a GPU worker in gaming mode is left out: its agent then
removes the stack, and nothing restarts it behind the player's back, not even an agent restart).

Portainer CE clones an Edge stack's repository once, at creation, and never polls it, nor records the commit. So
bootstrap keeps it at the reference by content: when the file Portainer serves differs from the file at the
reference's current commit (read from the Git server), the Edge stack is deleted, its project is gone from every
host that is on, and Portainer makes it again from the repository (it clones the new commit itself). Deleting and
creating at once is avoided: the agent could run the old stack's `down` after the new one's `up`, on the same
project name. A project bootstrap deployed directly before is taken over (its containers go, volumes stay).

Longer than 300 lines because one Edge stack is one idempotent step whose check and apply must judge the same state
(the Edge group's members, the file Portainer serves against the file at the reference, what each host's agent
runs), and Portainer CE's clone-once Edge stacks make the apply a delete, a wait for the agents and a recreation,
with the takeover of a project bootstrap deployed directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bootstrap.environments import portainer_api
from bootstrap.gitstacks import unreachable_fix
from bootstrap.remote import Remote
from bootstrap.services.portainer import PortainerAccess
from bootstrap.stack import WAIT
from bootstrap.steps import Step, StepFailed
from homelab.checks import gaming
from homelab.clients.gitremote import GitRemoteError, file_at, ref_commit
from homelab.clients.portainer import Json, Portainer, PortainerError
from homelab.clients.portainer_edge import AGENT_FILES, ERROR, RUNNING, EdgeApi, last_status, status_name
from homelab.model.compose import ComposeError, load_stack
from homelab.model.gitops import EDGE_PROJECT_PREFIX, edge_group, edge_stack_hosts
from homelab.model.inventory import Host, Inventory
from homelab.model.secrets import Secrets
from homelab.transport.ssh import SSHError, SSHPool

GAMING_STACK = gaming.STACK  # the stack a GPU worker in gaming mode leaves out of its Edge group


@dataclass
class EdgeStack:
    name: str
    hosts: list[Host]  # every host the inventory runs it on
    inventory: Inventory
    secrets: Secrets
    pool: SSHPool
    access: PortainerAccess

    @property
    def project(self) -> str:
        return EDGE_PROJECT_PREFIX + self.name

    @property
    def path(self) -> str:
        assert self.inventory.git is not None
        return self.inventory.git.compose_path(self.name)

    def remote(self, host: Host) -> Remote:
        return Remote(self.inventory, self.secrets, self.pool, host)

    def on(self) -> list[Host]:
        """The hosts that answer now (an on-demand host that is off keeps its membership and catches up when on)."""
        found = []
        for host in self.hosts:
            try:
                self.pool.get(host)
            except SSHError:
                if not host.on_demand:
                    raise
                continue
            found.append(host)
        return found

    def gaming(self, host: Host) -> bool:
        if self.name != GAMING_STACK:
            return False
        try:
            return gaming.read(self.remote(host).try_run).on
        except gaming.GamingUnknown as exc:
            raise StepFailed(f"{host.name}: {exc}") from None

    # -- what the Git server and Portainer hold ------------------------------------------------------------------
    def password(self) -> str:
        git = self.inventory.git
        assert git is not None
        return self.secrets.get(git.password_secret) if git.password_secret else ""

    def wanted_file(self) -> tuple[str, str]:
        """(commit, the stack's compose file at it) on the Git server."""
        git = self.inventory.git
        assert git is not None
        try:
            head = ref_commit(self.inventory, git, self.password())
            return head, file_at(self.inventory, git, head, self.path, self.password()).decode()
        except GitRemoteError as exc:
            raise StepFailed(f"the {self.name} Edge stack: the Git server does not give {self.path} at {git.ref}: "
                             f"{exc}; fix: {unreachable_fix(git)}") from None

    def endpoint_ids(self, portainer: Portainer, on: list[Host]) -> dict[str, int]:
        """Each host's environment id. A host that is on must have one; one that is off and has none yet (a new
        gaming PC, switched off before phase 3 ever saw it) is left out until phase 3 registers it."""
        found = {e["Name"]: int(e["Id"]) for e in portainer.endpoints()}
        missing = [h.name for h in self.hosts if h.name not in found and h in on]
        if missing:
            raise StepFailed(f"Portainer has no Edge environment {', '.join(missing)}: run `python -m bootstrap "
                             "phase3` first (it registers every Edge host)")
        return found

    def members(self, portainer: Portainer, group: Json | None, on: list[Host]) -> list[int]:
        """The group's wanted members: every host's environment, less the GPU workers in gaming mode; a host that
        is off keeps what it has (its gaming state cannot be read)."""
        ids = self.endpoint_ids(portainer, on)
        current = set((group or {}).get("Endpoints") or [])
        wanted = []
        for host in self.hosts:
            if host.name not in ids:  # off, and not registered yet: it joins when phase 3 runs with it on
                continue
            keep = not self.gaming(host) if host in on else (group is None or ids[host.name] in current)
            if keep:
                wanted.append(ids[host.name])
        return sorted(wanted)

    def differences(self, found: Json | None, group_id: int | None, served: str | None, wanted: str) -> list[str]:
        if found is None:
            return ["not in Portainer"]
        problems = []
        if found.get("EntryPoint") != self.path:
            problems.append(f"its entry file is {found.get('EntryPoint')!r}")
        if found.get("EdgeGroups") != [group_id]:
            problems.append(f"it targets Edge groups {found.get('EdgeGroups')}, not {edge_group(self.name)}")
        if int(found.get("DeploymentType", 0)) != 0:
            problems.append("it is not a compose stack")
        if served != wanted:
            problems.append("its file differs from the reference's (Portainer CE clones an Edge stack only once)")
        return problems

    # -- on the hosts --------------------------------------------------------------------------------------------
    def containers(self, host: Host, project: str) -> list[str]:
        out = self.remote(host).run(f"docker ps -aq --filter label=com.docker.compose.project={project}",
                                    what="docker ps")  # a failed read is an error, never "no containers"
        return out.split()

    def unhealthy(self, host: Host) -> list[str]:
        """The stack's services without a running, healthy container in the agent's project on `host`."""
        try:
            services = list(load_stack(self.name).services)
        except ComposeError as exc:
            raise StepFailed(str(exc)) from None
        fmt = '{{.Label "com.docker.compose.service"}} {{.State}} {{.Status}}'
        out = self.remote(host).run(
            f"docker ps -a --filter label=com.docker.compose.project={self.project} --format '{fmt}'", what="docker ps")
        running = {line.split()[0]: line.split(" ", 1)[1] for line in out.splitlines() if " " in line}
        problems = []
        for service in services:
            state = running.get(service)
            if state is None:
                problems.append(f"{service}: no container")
            elif not state.startswith("running") or "(unhealthy)" in state or "health: starting" in state:
                problems.append(f"{service}: {state}")
        return problems

    def host_problems(self, stack: Json, ids: dict[str, int], members: list[int], on: list[Host]) -> list[str]:
        """What keeps the member hosts that are on from running the stack: the agent's status and the containers."""
        problems = []
        for host in on:
            if ids[host.name] not in members:
                continue
            status, error = last_status(stack, ids[host.name])
            if status == ERROR:
                raise StepFailed(f"the Edge agent on {host.name} could not deploy the {self.name} Edge stack: "
                                 f"{error}; fix: when the cause has passed (a registry, the GPU not ready), re-run "
                                 "bootstrap, which redeploys it; else fix the stack in Git and push")
            if status != RUNNING:
                problems.append(f"{host.name}: the agent reports {status_name(status)}")
                continue
            problems += [f"{host.name}: {p}" for p in self.unhealthy(host)]
            problems += [f"{host.name}: {name} was not made by the agent from the Edge stack's file (recreated by "
                         "hand?)" for name in self.foreign(host, stack)]
        return problems

    def redeploy_reason(self, stack: Json, ids: dict[str, int], members: list[int], on: list[Host]) -> str:
        """Why the agents must run the stack again (CE retries nothing: only a new Version makes them deploy), or
        "": a member's agent reported an Error (perhaps passing: a registry, the GPU not ready yet), a service has
        no container, or a container was not made from the stack's file."""
        for host in on:
            if ids[host.name] not in members:
                continue
            if last_status(stack, ids[host.name])[0] == ERROR:
                return f"the agent on {host.name} reported an error: {last_status(stack, ids[host.name])[1]}"
            if missing := [p for p in self.unhealthy(host) if p.endswith("no container")]:
                return f"{host.name}: {'; '.join(missing)}"
            if foreign := self.foreign(host, stack):
                return f"{host.name}: {', '.join(foreign)} not made from its file"
        return ""

    def foreign(self, host: Host, stack: Json) -> list[str]:
        """The project's containers that the agent's `up` did not make: their compose files are not the one the
        agent deploys (/tmp/edge_stacks/ID/ENTRYPOINT in its container); an override added by hand shows here."""
        wanted = f"{AGENT_FILES}/{stack['Id']}/{stack.get('EntryPoint', '')}"
        label = "com.docker.compose.project.config_files"
        out = self.remote(host).run(f"docker ps -a --filter label=com.docker.compose.project={self.project} "
                                    f"--format '{{{{.Names}}}} {{{{.Label \"{label}\"}}}}'", what="docker ps")
        return [line.split()[0] for line in out.splitlines() if line.strip() and line.split(" ", 1)[-1] != wanted]

    # -- the step ------------------------------------------------------------------------------------------------
    def state(self, portainer: Portainer, on: list[Host]) -> tuple[Json | None, Json | None, list[int], str]:
        edge = EdgeApi(portainer)
        group = next((g for g in edge.groups() if g.get("Name") == edge_group(self.name)), None)
        found = next((s for s in edge.stacks() if str(s.get("Name", "")).lower() == self.name.lower()), None)
        served = edge.file(int(found["Id"])) if found else None
        return group, found, self.members(portainer, group, on), served or ""

    def done(self) -> bool:
        _, wanted = self.wanted_file()
        on = self.on()
        try:
            return self.in_place(wanted, on)
        except StepFailed:  # Portainer, or the Edge environments, not there yet (a dry run on a fresh homelab)
            return False

    def in_place(self, wanted: str, on: list[Host]) -> bool:
        with portainer_api(self.access) as portainer:
            if not EdgeApi(portainer).settings().get("EnableEdgeComputeFeatures"):
                return False
            group, found, members, served = self.state(portainer, on)
            if group is None or sorted(group.get("Endpoints") or []) != members:
                return False
            if self.differences(found, group.get("Id"), served, wanted):
                return False
            assert found is not None
            return not self.host_problems(found, self.endpoint_ids(portainer, on), members, on)

    def apply(self) -> None:
        head, wanted = self.wanted_file()  # the Git server answers first: its error names the fix
        on = self.on()
        with portainer_api(self.access) as portainer:
            edge = EdgeApi(portainer)
            try:
                if not edge.settings().get("EnableEdgeComputeFeatures"):
                    edge.enable()
                group, found, members, served = self.state(portainer, on)
                group = self.put_group(edge, group, members)
                problems = self.differences(found, group.get("Id"), served, wanted)
                if found is not None and problems:
                    print(f"    recreating the {self.name} Edge stack from {head[:7]}: {'; '.join(problems)}",
                          flush=True)
                    edge.delete(int(found["Id"]))
                    self.wait_gone(on)
                    found = None
                self.take_over(on)  # also on a PC that was off when the stack moved to its agent
                if found is None:
                    found = edge.create_from_git(self.payload([int(group["Id"])]))
                elif why := self.redeploy_reason(found, self.endpoint_ids(portainer, on), members, on):
                    print(f"    redeploying the {self.name} Edge stack: {why}", flush=True)
                    found = edge.redeploy(found, served)
            except PortainerError as exc:
                git = self.inventory.git
                assert git is not None
                raise StepFailed(f"Portainer could not make the {self.name} Edge stack from {git.repository} "
                                 f"({git.ref}): {exc}; fix: {unreachable_fix(git)}") from None
            self.wait_running(portainer, int(found["Id"]), members, on)

    def put_group(self, edge: EdgeApi, group: Json | None, members: list[int]) -> Json:
        if group is None:
            return edge.create_group(edge_group(self.name), members)
        if sorted(group.get("Endpoints") or []) != members:
            return edge.update_group(int(group["Id"]), edge_group(self.name), members)
        return group

    def payload(self, groups: list[int]) -> dict[str, Any]:
        """edgeStackFromGitRepositoryPayload (api/http/handler/edgestacks/edgestack_create_git.go, 2.23.0). No
        AutoUpdate or Env: CE has neither for Edge stacks (the agent's own environment feeds the interpolation)."""
        git = self.inventory.git
        assert git is not None
        auth = git.username is not None
        return {"Name": self.name, "RepositoryURL": git.repository, "RepositoryReferenceName": git.ref,
                "RepositoryAuthentication": auth, "RepositoryUsername": git.username or "",
                "RepositoryPassword": self.password() if auth else "", "FilePathInRepository": self.path,
                "EdgeGroups": groups, "DeploymentType": 0, "Registries": [], "UseManifestNamespaces": False,
                "TLSSkipVerify": False}

    def take_over(self, on: list[Host]) -> None:
        """The stack deployed directly (compose project `<stack>`) is replaced by the agent's: the fixed container
        names would clash. Its containers go; its volumes stay (the stacks name them, so the agent reuses them)."""
        for host in on:
            if self.containers(host, self.name):
                print(f"    taking over {self.name} on {host.name}: its containers deployed by bootstrap go (volumes "
                      "stay) so that its Edge agent deploys the Edge stack", flush=True)
                self.remote(host).run(f"docker ps -aq --filter label=com.docker.compose.project={self.name} | "
                                      "xargs -r docker rm -f", what="docker rm")

    def wait_gone(self, on: list[Host]) -> None:
        """Until the agents took the deleted stack's project down on every host that is on."""
        deadline = time.monotonic() + WAIT
        while left := [h.name for h in on if self.containers(h, self.project)]:
            if time.monotonic() > deadline:
                raise StepFailed(f"the Edge agents on {', '.join(left)} did not remove the deleted {self.name} Edge "
                                 f"stack within {WAIT:.0f} s; see the agent's log (`docker logs "
                                 "portainer-edge-agent`) and its check-in in Portainer")
            time.sleep(2)

    def wait_running(self, portainer: Portainer, stack_id: int, members: list[int], on: list[Host]) -> None:
        ids = self.endpoint_ids(portainer, on)
        deadline = time.monotonic() + WAIT
        while problems := self.host_problems(EdgeApi(portainer).stack(stack_id), ids, members, on):
            if time.monotonic() > deadline:
                raise StepFailed(f"the {self.name} Edge stack does not run after {WAIT:.0f} s: {'; '.join(problems)}; "
                                 "see the Edge stack in Portainer and `docker logs portainer-edge-agent` on the host")
            time.sleep(2)


def steps(inventory: Inventory, secrets: Secrets, pool: SSHPool, access: PortainerAccess,
          stacks: tuple[str, ...]) -> list[Step]:
    """One step per Edge stack of `stacks` the inventory has Portainer deploy."""
    git = inventory.git
    found = []
    for name, hosts in edge_stack_hosts(inventory).items():
        if name not in stacks:
            continue
        stack = EdgeStack(name, hosts, inventory, secrets, pool, access)
        source = f"{git.repository} {git.ref}" if git else "Git"
        found.append(Step(f"Portainer deploys the {name} Edge stack from {source} to "
                          f"{', '.join(h.name for h in hosts)} (Edge group {edge_group(name)})",
                          inventory.platform_host.name, stack.done, stack.apply))
    return found


def set_member(remote: Remote, access: PortainerAccess, stack: str, member: bool) -> None:
    """Put the host in (or out of) the Edge stack's group: its agent then deploys (or removes) the stack."""
    with portainer_api(access) as portainer:
        edge = EdgeApi(portainer)
        group = next((g for g in edge.groups() if g.get("Name") == edge_group(stack)), None)
        if group is None:
            raise StepFailed(f"Portainer has no Edge group {edge_group(stack)}: run `python -m bootstrap phase3`")
        environment = next((e for e in portainer.endpoints() if e.get("Name") == remote.host.name), None)
        if environment is None:
            raise StepFailed(f"Portainer has no Edge environment {remote.host.name}: run `python -m bootstrap phase3`")
        members = set(group.get("Endpoints") or [])
        changed = (members | {int(environment["Id"])}) if member else (members - {int(environment["Id"])})
        if changed != members:
            edge.update_group(int(group["Id"]), edge_group(stack), sorted(changed))

