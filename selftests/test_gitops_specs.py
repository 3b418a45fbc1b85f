"""GIT-STACK-001/002/003 (tests/gitops/test_git_stacks.py, imported from its file) driven with a fake Portainer and a
fake Git server: each passes on the inventory's Git stack at the reference's commit, fails on its fault saying
expected / found / where / fix, and fails as "could not observe" when Portainer or the Git server does not answer."""

from __future__ import annotations

from typing import Any

import pytest
from spec_project import REPO, spec_module

from homelab.clients.gitremote import GitRemoteError
from homelab.clients.portainer import PortainerError
from homelab.model.gitops import GitStack
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.specs.targets import select

SPECS = spec_module("tests/gitops/test_git_stacks.py")
REPOSITORY = "https://git.home.example.com/homelab/homelab.git"
HEAD = "def5678" + "0" * 33
NO_SECRETS = None  # the example's git section has no password_secret: the specs never ask


class FakePortainer:
    """PortainerView as the specs use it: `.environments()` (each host, Ids from 1) and `.client().stacks(id)`."""

    def __init__(self, inventory: Inventory, stacks: dict[str, list[dict[str, Any]]] | PortainerError) -> None:
        self.ids = {name: n for n, name in enumerate(inventory.hosts, 1)}
        self.by_host = stacks

    def environments(self) -> dict[str, dict[str, Any]]:
        return {name: {"Id": n, "Name": name} for name, n in self.ids.items()}

    def client(self) -> FakePortainer:
        return self

    def stacks(self, endpoint_id: int) -> list[dict[str, Any]]:
        if isinstance(self.by_host, PortainerError):
            raise self.by_host
        host = next(name for name, n in self.ids.items() if n == endpoint_id)
        return self.by_host.get(host, [])


def git_stack(name: str, commit: str = HEAD, poll: str | None = "5m", **config: Any) -> dict[str, Any]:
    """A Portainer stack deployed from the inventory's repository at `commit` (GitConfig fields overridden by
    `config`)."""
    git = {"URL": REPOSITORY, "ReferenceName": "refs/heads/main", "ConfigFilePath": f"stacks/{name}/compose.yaml",
           "ConfigHash": commit, **config}
    return {"Id": 7, "Name": name, "GitConfig": git, "AutoUpdate": {"Interval": poll} if poll else None}


def hand_made(name: str) -> dict[str, Any]:
    """A stack made (or edited, which detaches it) in Portainer's editor."""
    return {"Id": 8, "Name": name, "GitConfig": None}


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(REPO / "inventory.yaml")


@pytest.fixture(scope="module")
def exporters(inventory: Inventory) -> GitStack:
    stacks, ids = select(inventory, "gitstack", {})
    return stacks[ids.index("exporters@unraid")]


@pytest.fixture
def head(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Git server's answer: the spec's ref_commit returns HEAD (and records what it was asked)."""
    asked: list[str] = []

    def ref_commit(inventory: Inventory, git: Any, password: str | None) -> str:
        asked.append(git.ref)
        return HEAD

    monkeypatch.setattr(SPECS, "ref_commit", ref_commit)
    return asked


def deployed(inventory: Inventory, gitstack: GitStack, *stacks: dict[str, Any]) -> Any:
    """GIT-STACK-001 for `gitstack` with Portainer holding `stacks` in its host's environment."""
    portainer = FakePortainer(inventory, {gitstack.host.name: [*stacks]})
    return SPECS.test_stack_deployed_from_git(gitstack, inventory, portainer)


def runs_reference(inventory: Inventory, gitstack: GitStack, *stacks: dict[str, Any]) -> Any:
    """GIT-STACK-002 likewise (the Git server: the `head` fixture, or the test's own ref_commit)."""
    portainer = FakePortainer(inventory, {gitstack.host.name: [*stacks]})
    return SPECS.test_stack_runs_the_reference(gitstack, inventory, NO_SECRETS, portainer)


def outside_git(inventory: Inventory, host: str, *stacks: dict[str, Any]) -> Any:
    """GIT-STACK-003 for `host` with Portainer holding `stacks` in its environment."""
    portainer = FakePortainer(inventory, {host: [*stacks]})
    return SPECS.test_no_stack_outside_git(inventory.hosts[host], inventory, portainer)


def failure(call: Any, *args: Any) -> str:
    with pytest.raises(AssertionError) as caught:
        call(*args)
    return str(caught.value)


def unobserved(call: Any, *args: Any) -> str:
    with pytest.raises(pytest.fail.Exception) as caught:
        call(*args)
    return str(caught.value)


# -- GIT-STACK-001: the stack is a Git stack of the inventory's repository, reference and compose path ----------------

WANTED = f"expected a Git stack exporters of {REPOSITORY} refs/heads/main stacks/exporters/compose.yaml; found "


def test_001_passes_on_the_git_stack(inventory: Inventory, exporters: GitStack) -> None:
    assert deployed(inventory, exporters, hand_made("scratch"), git_stack("exporters")) is None


def test_001_fails_on_a_missing_stack(inventory: Inventory, exporters: GitStack) -> None:
    message = failure(deployed, inventory, exporters, git_stack("monitoring"))
    assert message.startswith(WANTED + "no such stack in Portainer (deployed by hand, or not at all); "
                              "where: Portainer environment unraid; fix: redeploy from Git")


def test_001_fails_on_a_stack_not_from_git(inventory: Inventory, exporters: GitStack) -> None:
    message = failure(deployed, inventory, exporters, hand_made("exporters"))
    assert message.startswith(WANTED + "a stack that is not from Git (made or edited in Portainer's editor)")
    assert "fix: never edit or create a stack in Portainer's editor" in message


@pytest.mark.parametrize(("field", "value"), [("URL", "https://git.example.org/someone/else.git"),
                                              ("ReferenceName", "refs/heads/dev"),
                                              ("ConfigFilePath", "docker-compose.yml")])
def test_001_fails_on_another_repository_ref_or_path(inventory: Inventory, exporters: GitStack, field: str,
                                                     value: str) -> None:
    message = failure(deployed, inventory, exporters, git_stack("exporters", **{field: value}))
    assert message.startswith(WANTED + f"{field} {value!r}; where: Portainer environment unraid; "
                              "fix: redeploy from Git")


def test_001_portainer_not_answering_is_could_not_observe(inventory: Inventory, exporters: GitStack) -> None:
    portainer = FakePortainer(inventory, PortainerError("HTTP 502 from /api/stacks", 502))
    message = unobserved(SPECS.test_stack_deployed_from_git, exporters, inventory, portainer)
    assert message.startswith("could not observe: Portainer did not list the stacks (HTTP 502 from /api/stacks) "
                              "(on unraid from Portainer at https://198.51.100.10)")
    assert message.endswith("; fix: start Portainer (`python -m bootstrap phase1`) and check PORTAINER_API_TOKEN")


# -- GIT-STACK-002: it runs the reference's current commit ------------------------------------------------------------


def test_002_passes_at_the_references_commit(inventory: Inventory, exporters: GitStack, head: list[str]) -> None:
    assert runs_reference(inventory, exporters, git_stack("exporters")) is None
    assert head == ["refs/heads/main"]


def test_002_fails_behind_the_reference(inventory: Inventory, exporters: GitStack, head: list[str]) -> None:
    message = failure(runs_reference, inventory, exporters, git_stack("exporters", commit="abc1234" + "f" * 33))
    assert message.startswith("expected exporters on unraid running main's commit def5678; "
                              "found exporters on unraid runs abc1234, main is at def5678; "
                              "where: Portainer environment unraid, stack 7 (GitOps polling every 5m)")


def test_002_without_polling_the_fix_says_to_turn_it_on(inventory: Inventory, exporters: GitStack,
                                                        head: list[str]) -> None:
    message = failure(runs_reference, inventory, exporters, git_stack("exporters", commit="abc1234", poll=None))
    assert "(GitOps polling off)" in message
    assert message.endswith("Pull and redeploy in Portainer, or turn on auto-update (git.poll)")


def test_002_with_polling_the_fix_does_not_say_to_turn_it_on(inventory: Inventory, exporters: GitStack,
                                                             head: list[str]) -> None:
    message = failure(runs_reference, inventory, exporters, git_stack("exporters", commit="abc1234"))
    assert "auto-update" not in message


def test_002_without_a_git_stack_defers_to_001(inventory: Inventory, exporters: GitStack, head: list[str]) -> None:
    message = unobserved(runs_reference, inventory, exporters, hand_made("exporters"))
    assert message.startswith("expected a Git stack exporters; found none (GIT-STACK-001 says why)")
    assert head == []  # the Git server is not asked


def test_002_git_server_not_answering_is_could_not_observe(inventory: Inventory, exporters: GitStack,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def ref_commit(inventory: Inventory, git: Any, password: str | None) -> str:
        raise GitRemoteError(f"{REPOSITORY}: no answer (ConnectError: [Errno 111] Connection refused)")

    monkeypatch.setattr(SPECS, "ref_commit", ref_commit)
    message = unobserved(runs_reference, inventory, exporters, git_stack("exporters"))
    assert message.startswith("could not observe: the Git server did not say where refs/heads/main is "
                              f"({REPOSITORY}: no answer (ConnectError: [Errno 111] Connection refused)) "
                              f"(on {REPOSITORY} from this machine, TLS verified); fix: make {REPOSITORY} answer")


def test_002_portainer_not_answering_is_could_not_observe(inventory: Inventory, exporters: GitStack,
                                                          head: list[str]) -> None:
    portainer = FakePortainer(inventory, PortainerError("timed out"))
    message = unobserved(SPECS.test_stack_runs_the_reference, exporters, inventory, NO_SECRETS, portainer)
    assert message.startswith("could not observe: Portainer did not list the stacks (timed out)")


# -- GIT-STACK-003: Portainer holds no stack outside Git -------------------------------------------------------------


def test_003_passes_with_only_the_inventorys_git_stacks(inventory: Inventory) -> None:
    assert outside_git(inventory, "platform", git_stack("monitoring"), git_stack("exporters")) is None


def test_003_passes_on_a_host_without_stacks(inventory: Inventory) -> None:
    assert outside_git(inventory, "gaming-pc-1") is None


def test_003_fails_naming_a_stack_not_from_git(inventory: Inventory) -> None:
    message = failure(outside_git, inventory, "unraid", git_stack("exporters"), hand_made("scratch"))
    assert message.startswith("expected only the inventory's Git stacks; found scratch (not from Git); "
                              "where: Portainer environment unraid; fix: never edit or create a stack")


def test_003_fails_naming_a_stack_of_another_repository(inventory: Inventory) -> None:
    other = "https://github.com/someone/else.git"
    message = failure(outside_git, inventory, "unraid", git_stack("whoami", URL=other))
    assert message.startswith(f"expected only the inventory's Git stacks; found whoami (from {other}); ")


@pytest.mark.parametrize(("host", "stack"), [("unraid", "monitoring"),     # monitoring runs on the platform VM
                                             ("platform", "platform"),     # Portainer cannot deploy itself
                                             ("gaming-pc-1", "exporters")])  # Edge: bootstrap deploys it
def test_003_fails_naming_a_stack_the_inventory_does_not_assign(inventory: Inventory, host: str, stack: str) -> None:
    message = failure(outside_git, inventory, host, git_stack(stack))
    assert message.startswith(f"expected only the inventory's Git stacks; found {stack} (not a stack the "
                              f"inventory has Portainer deploy on {host}); ")


def test_003_lists_every_stray(inventory: Inventory) -> None:
    message = failure(outside_git, inventory, "unraid", hand_made("a"), git_stack("exporters"), hand_made("b"))
    assert "found a (not from Git), b (not from Git); " in message


def test_003_skips_a_host_portainer_does_not_know(inventory: Inventory) -> None:
    portainer = FakePortainer(inventory, {})
    portainer.ids.pop("gaming-pc-2")
    with pytest.raises(pytest.skip.Exception, match="gaming-pc-2 has no Portainer environment"):
        SPECS.test_no_stack_outside_git(inventory.hosts["gaming-pc-2"], inventory, portainer)


def test_003_portainer_not_answering_is_could_not_observe(inventory: Inventory) -> None:
    portainer = FakePortainer(inventory, PortainerError("HTTP 500"))
    message = unobserved(SPECS.test_no_stack_outside_git, inventory.hosts["unraid"], inventory, portainer)
    assert message.startswith("could not observe: Portainer did not list the stacks (HTTP 500) (on unraid from")
