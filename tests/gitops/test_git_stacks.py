"""Git is the source of truth: every stack Portainer manages (homelab.model.gitops) is a Git stack of the inventory's
repository, reference and compose path, in its host's environment, running the reference's current commit; and
Portainer holds no stack that is not from this repository (one made or edited in its editor).

Portainer is asked over its pinned, token-authenticated API; the Git server over its smart HTTP discovery (the
refs `git ls-remote` reads), TLS verified. Each stack belongs to its services' phase (exporters and monitoring: 4).
"""

from __future__ import annotations

import pytest

from homelab.checks import could_not_observe, problem
from homelab.clients.gitremote import GitRemoteError, ref_commit
from homelab.clients.portainer import PortainerError
from homelab.model.gitops import edge_deploys, portainer_deploys

pytestmark = pytest.mark.gitops

REDEPLOY = ("redeploy from Git: `python -m bootstrap phase4` (it creates or updates the Git stack in Portainer), "
            "or Portainer > Stacks > the stack > Pull and redeploy")
HAND_MADE = ("never edit or create a stack in Portainer's editor: commit the change to stacks/ and push it; "
             "`python -m bootstrap phase4` replaces a stack detached from Git with the Git stack (one the inventory "
             "does not assign: delete it in Portainer)")


def _stacks(portainer, inventory, host_name: str) -> tuple[dict, list[dict]]:
    """The host's Portainer environment and its stacks; could not observe when Portainer does not answer."""
    where = f"Portainer at https://{inventory.platform_host.address}"
    try:
        environment = portainer.environments().get(host_name)
        if environment is None:
            pytest.fail(problem(expected=f"a Portainer environment {host_name}", found="none", where=where,
                                fix="register the host: `python -m bootstrap phase2`"), pytrace=False)
        return environment, portainer.client().stacks(environment["Id"])
    except PortainerError as exc:
        pytest.fail(could_not_observe(f"Portainer did not list the stacks ({exc})", host_name, where) +
                    "; fix: start Portainer (`python -m bootstrap phase1`) and check PORTAINER_API_TOKEN",
                    pytrace=False)


def _head(inventory, secrets) -> str:
    git = inventory.git
    try:
        return ref_commit(inventory, git, secrets.get(git.password_secret) if git.password_secret else None)
    except GitRemoteError as exc:
        pytest.fail(could_not_observe(f"the Git server did not say where {git.ref} is ({exc})", git.repository,
                                      "this machine, TLS verified") +
                    f"; fix: make {git.repository} answer (the lab: `lab up`; its name and certificate: git.address, "
                    "settings.ca_bundle)", pytrace=False)


@pytest.mark.spec("GIT-STACK-001", severity="high", fix=REDEPLOY)
@pytest.mark.each("gitstack", edge=False)
def test_stack_deployed_from_git(gitstack, inventory, portainer):
    """The stack is a Portainer Git stack in its host's environment, of the inventory's repository, reference and
    stacks/NAME/compose.yaml: what runs is what the repository says."""
    git = inventory.git
    _, stacks = _stacks(portainer, inventory, gitstack.host.name)
    found = next((s for s in stacks if s.get("Name") == gitstack.name), None)
    config = (found or {}).get("GitConfig") or {}
    wanted = {"URL": git.repository.rstrip("/"), "ReferenceName": git.ref,
              "ConfigFilePath": git.compose_path(gitstack.name)}
    if found is None:
        state = "no such stack in Portainer (deployed by hand, or not at all)"
    elif not config:
        state = "a stack that is not from Git (made or edited in Portainer's editor)"
    else:
        state = "; ".join(f"{key} {config.get(key)!r}" for key, value in wanted.items() if config.get(key) != value)
    assert not state, problem(
        expected=f"a Git stack {gitstack.name} of {git.repository} {git.ref} {wanted['ConfigFilePath']}", found=state,
        where=f"Portainer environment {gitstack.host.name}", fix=REDEPLOY if found is None or config else HAND_MADE)


@pytest.mark.spec("GIT-STACK-002", severity="high",
                  fix="redeploy (bootstrap phase 4), or turn on GitOps polling (`git.poll` in the inventory)")
@pytest.mark.each("gitstack", edge=False)
def test_stack_runs_the_reference(gitstack, inventory, secrets, portainer):
    """The commit Portainer deployed (GitConfig.ConfigHash) is the reference's current commit on the Git server: a
    change pushed is running, none is left behind."""
    git = inventory.git
    _, stacks = _stacks(portainer, inventory, gitstack.host.name)
    found = next((s for s in stacks if s.get("Name") == gitstack.name and s.get("GitConfig")), None)
    if found is None:
        pytest.fail(problem(expected=f"a Git stack {gitstack.name}", found="none (GIT-STACK-001 says why)",
                            where=f"Portainer environment {gitstack.host.name}", fix=REDEPLOY), pytrace=False)
    head = _head(inventory, secrets)
    deployed = str(found["GitConfig"].get("ConfigHash") or "")
    branch = git.ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
    polling = (found.get("AutoUpdate") or {}).get("Interval")
    assert deployed == head, problem(
        expected=f"{gitstack.name} on {gitstack.host.name} running {branch}'s commit {head[:7]}",
        found=f"{gitstack.name} on {gitstack.host.name} runs {deployed[:7] or 'no commit'}, {branch} is at {head[:7]}",
        where=f"Portainer environment {gitstack.host.name}, stack {found['Id']} (GitOps polling "
        f"{'every ' + polling if polling else 'off'})",
        fix=f"redeploy: `python -m bootstrap phase4` or Pull and redeploy in Portainer"
        f"{'' if polling else ', or turn on auto-update (git.poll)'}")


@pytest.mark.spec("GIT-STACK-003", severity="high", fix=HAND_MADE)
@pytest.mark.each("host")
def test_no_stack_outside_git(host, inventory, portainer):
    """Every stack Portainer holds for the host is one the inventory has Portainer deploy from this repository:
    none made in its editor, none of another repository, none the inventory does not assign to the host."""
    git = inventory.git
    environment = portainer.environments().get(host.name)
    if environment is None:
        pytest.skip(f"{host.name} has no Portainer environment (P2-ENV/P3-EDGE specs judge that)")
    _, stacks = _stacks(portainer, inventory, host.name)
    strays = []
    for stack in stacks:
        config = stack.get("GitConfig") or {}
        name = str(stack.get("Name"))
        if not config:
            strays.append(f"{name} (not from Git)")
        elif git is None or config.get("URL") != git.repository.rstrip("/"):
            strays.append(f"{name} (from {config.get('URL')})")
        elif name not in host.stacks or not portainer_deploys(inventory, host, name) or \
                edge_deploys(inventory, host, name):  # on an Edge host it must be an Edge stack
            strays.append(f"{name} (not a stack the inventory has Portainer deploy on {host.name})")
    assert not strays, problem(expected="only the inventory's Git stacks", found=", ".join(strays),
                               where=f"Portainer environment {host.name}", fix=HAND_MADE)
