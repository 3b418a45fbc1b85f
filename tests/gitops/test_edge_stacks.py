"""Git is the source of truth on the Edge hosts too: each stack Portainer deploys there (homelab.model.gitops) is an
Edge stack made from this repository, aimed at the host's Edge environment, serving the reference's current file, and
running on the host as its agent reports; no other Edge stack reaches the host.

Portainer CE keeps no Git settings and no commit for an Edge stack (it clones once, at creation): what can be
compared is the entry file Portainer serves to the agents, against the file at the reference's current commit on
the Git server (fetched over smart HTTP, TLS verified). docs/design/edge-stacks.md has the upstream facts.
"""

from __future__ import annotations

import pytest
from docker.errors import DockerException

from homelab.checks import could_not_observe, problem
from homelab.checks.edge import agent_file, not_agent_made
from homelab.clients.gitremote import GitRemoteError, file_at, ref_commit
from homelab.clients.portainer_edge import ERROR, RUNNING, last_status, status_name
from homelab.model.compose import load_stack
from homelab.model.gitops import EDGE_ROLE, edge_deploys, edge_group

pytestmark = pytest.mark.gitops

PHASES = "`python -m bootstrap phase3` (gpu-worker) or `phase4` (exporters)"
REDEPLOY = (f"run {PHASES}: it makes the Edge stack from Git (Portainer clones the reference), its group and "
            "membership")
EDGE_COMPUTE = ("turn on Edge compute: `--edge-compute` in stacks/platform/compose.yaml's portainer command (bootstrap "
                "phase 1), or Settings > Edge Compute; then " + PHASES)


def _edge_stack(portainer, name: str) -> dict | None:
    if not portainer.edge_enabled():
        pytest.fail(problem(expected="Portainer's Edge compute features on",
                            found="EnableEdgeComputeFeatures false (every Edge stack route answers 503)",
                            where=portainer.where, fix=EDGE_COMPUTE), pytrace=False)
    return next((s for s in portainer.edge_stacks() if str(s.get("Name", "")).lower() == name.lower()), None)


def _environment_id(portainer, host) -> int:
    environment = portainer.environments().get(host.name)
    if environment is None:
        pytest.fail(problem(expected=f"an Edge environment {host.name}", found="none", where=portainer.where,
                            fix="register the host: `python -m bootstrap phase3`"), pytrace=False)
    return int(environment["Id"])


def _gaming(gitstack, on) -> bool:
    """True when the GPU worker is in gaming mode with its stack stopped (it is out of the group on purpose). The
    host-down policy first: an Edge host that is off skips."""
    return gitstack.name == "gpu-worker" and on(gitstack.host).gaming.skip_reason is not None


@pytest.mark.spec("GIT-EDGE-001", severity="high", fix=REDEPLOY)
@pytest.mark.each("gitstack", edge=True)
def test_edge_stack_deployed_from_git(gitstack, inventory, portainer, on):
    """The stack is an Edge stack of stacks/NAME/compose.yaml, a compose stack, aimed at the Edge group
    homelab-NAME, which holds the host's Edge environment (a GPU worker in gaming mode is left out on purpose).
    The repository and reference cannot be read back: Portainer CE does not keep them."""
    path = inventory.git.compose_path(gitstack.name)
    found = _edge_stack(portainer, gitstack.name)
    where = f"{portainer.where}, Edge stacks"
    assert found is not None, problem(expected=f"an Edge stack {gitstack.name} of {inventory.git.repository} {path}",
                                      found="none (deployed by hand, or not at all)", where=where, fix=REDEPLOY)
    group = portainer.edge_groups().get(edge_group(gitstack.name))
    wrong = [f"entry file {found.get('EntryPoint')!r}"] if found.get("EntryPoint") != path else []
    wrong += ["not a compose stack"] if int(found.get("DeploymentType", 0)) != 0 else []
    if group is None or (found.get("EdgeGroups") or []) != [group.get("Id")]:
        wrong.append(f"not aimed at the Edge group {edge_group(gitstack.name)} alone "
                     f"(groups {found.get('EdgeGroups')})")
    elif group.get("Dynamic"):
        wrong.append(f"{edge_group(gitstack.name)} is a dynamic (tag) group: any environment tagged so gets the stack")
    else:
        planned = {int(e["Id"]) for name, e in portainer.environments().items()
                   if name in inventory.hosts and edge_deploys(inventory, inventory.hosts[name], gitstack.name)}
        strangers = sorted(set(group.get("Endpoints") or []) - planned)
        if strangers:
            wrong.append(f"{edge_group(gitstack.name)} also holds environments {strangers}, which the inventory "
                         f"does not run {gitstack.name} on")
    assert not wrong, problem(expected=f"the Edge stack {gitstack.name}: {path}, compose, group "
                              f"{edge_group(gitstack.name)}", found="; ".join(wrong), where=where, fix=REDEPLOY)
    member = _environment_id(portainer, gitstack.host) in (group.get("Endpoints") or [])
    if not member and _gaming(gitstack, on):
        pytest.skip(on(gitstack.host).gaming.skip_reason)
    assert member, problem(expected=f"{gitstack.host.name}'s Edge environment in the Edge group "
                           f"{edge_group(gitstack.name)}",
                           found=f"members {group.get('Endpoints')}: the host's agent does not deploy {gitstack.name}",
                           where=where, fix=REDEPLOY)


@pytest.mark.spec("GIT-EDGE-002", severity="high", fix=f"run {PHASES}: it recreates the Edge stack from the reference")
@pytest.mark.each("gitstack", edge=True)
def test_edge_stack_runs_the_reference(gitstack, inventory, secrets, portainer, on):
    """The file Portainer serves for the Edge stack is the stack's file at the reference's current commit (Portainer
    CE never re-clones: a push is deployed when bootstrap recreates the stack), and the host's agent reports it
    Running for the stack's current version."""
    git = inventory.git
    path = git.compose_path(gitstack.name)
    found = _edge_stack(portainer, gitstack.name)
    if found is None:
        pytest.fail(problem(expected=f"an Edge stack {gitstack.name}", found="none (GIT-EDGE-001 says why)",
                            where=portainer.where, fix=REDEPLOY), pytrace=False)
    password = secrets.get(git.password_secret) if git.password_secret else None
    try:
        head = ref_commit(inventory, git, password)
        wanted = file_at(inventory, git, head, path, password).decode()
    except GitRemoteError as exc:
        pytest.fail(could_not_observe(f"the Git server did not give {path} at {git.ref} ({exc})", git.repository,
                                      "this machine, TLS verified") +
                    f"; fix: make {git.repository} answer (the lab: `lab up`; its name and certificate: git.address, "
                    "settings.ca_bundle)", pytrace=False)
    branch = git.ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
    assert portainer.edge_file(int(found["Id"])) == wanted, problem(
        expected=f"the {gitstack.name} Edge stack serving {path} as {branch} has it at {head[:7]}",
        found="another file (Portainer cloned an older commit, or the stack was edited in Portainer)",
        where=f"{portainer.where}, Edge stack {found['Id']}",
        fix=f"run {PHASES}: it recreates the Edge stack from {branch} (Portainer CE does not poll Edge stacks)")
    on(gitstack.host)  # the host-down policy: an Edge host that is off has nothing running to report
    if _gaming(gitstack, on):
        pytest.skip(on(gitstack.host).gaming.skip_reason)
    status, error = last_status(found, _environment_id(portainer, gitstack.host))
    where = f"{portainer.where}, Edge stack {found['Id']} version {found.get('Version')}, {gitstack.host.name}'s agent"
    assert status != ERROR, problem(expected=f"{gitstack.name} running on {gitstack.host.name}",
                                    found=f"Error: {error}", where=where,
                                    fix="fix the stack in Git and push it, then " + PHASES)
    assert status == RUNNING, problem(
        expected=f"{gitstack.name} running on {gitstack.host.name} (the agent's status Running)",
        found=status_name(status), where=where,
        fix="check the agent (`docker logs portainer-edge-agent` on the host) and its check-in in Portainer; then "
        + PHASES)
    # The agent's status is its own claim (a public route takes it): what runs on the host must agree.
    try:
        services = list(load_stack(gitstack.name).services)
        containers = on(gitstack.host).docker.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={gitstack.project}"})
    except DockerException as exc:
        pytest.fail(could_not_observe(f"the engine did not list the containers of {gitstack.project} ({exc})",
                                      gitstack.host.name, "its Docker engine over SSH"), pytrace=False)
    wrong = not_agent_made(services, containers, agent_file(found))
    assert not wrong, problem(
        expected=f"every service of {gitstack.name} running on {gitstack.host.name} as its Edge agent deployed it "
                 f"(compose project {gitstack.project})",
        found="; ".join(wrong), where=f"{gitstack.host.name}'s Docker engine",
        fix="never recreate an Edge stack's containers by hand: " + PHASES + " redeploys the Edge stack")


@pytest.mark.spec("GIT-EDGE-003", severity="high",
                  fix="delete the Edge stack in Portainer (Edge Stacks), or take the host out of its Edge group")
@pytest.mark.each("host", role=EDGE_ROLE)
def test_no_other_edge_stack(host, inventory, portainer):
    """Every Edge stack aimed at the host's Edge environment is one the inventory has Portainer deploy there from
    Git, through its own group: none made in Portainer's editor for it, none of a group the inventory does not make."""
    if not portainer.edge_enabled():  # the admin routes answer 503, while the agents' polls still get their stacks
        pytest.fail(could_not_observe("Portainer's Edge compute features are off: its Edge stack and group routes "
                                      "answer 503", host.name, portainer.where) + "; fix: " + EDGE_COMPUTE,
                    pytrace=False)
    environment = _environment_id(portainer, host)
    groups = {g["Id"]: name for name, g in portainer.edge_groups().items() if environment in (g.get("Endpoints") or [])}
    strays = []
    for stack in portainer.edge_stacks():
        reaching = [groups[g] for g in stack.get("EdgeGroups") or [] if g in groups]
        name = str(stack.get("Name"))
        if not reaching:
            continue
        if not edge_deploys(inventory, host, name):
            strays.append(f"{name} (not a stack the inventory has Portainer deploy on {host.name})")
        elif reaching != [edge_group(name)]:
            strays.append(f"{name} (through Edge groups {', '.join(reaching)})")
    assert not strays, problem(expected=f"only the inventory's Edge stacks reaching {host.name}",
                               found=", ".join(strays), where=f"{portainer.where}, Edge stacks and groups",
                               fix="delete the stray Edge stack in Portainer, or take the host out of the Edge group; "
                               "Git is the source of truth")
