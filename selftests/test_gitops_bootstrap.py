"""bootstrap.gitstacks.GitStack without Portainer: the Git stack it asks Portainer to create (the inventory's
repository, reference and compose path, the stack's variables as Env, GitOps polling from `git.poll`), and what it
finds different in the stack Portainer holds, which is what makes phase 4 update or redeploy it; nothing when it is
the inventory's Git stack at the reference's commit."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_gitops_inventory import REPOSITORY, git_inventory

from bootstrap.gitstacks import GitStack
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO, stack_dir

ROOT = REPO
HEAD = "def5678" + "0" * 33
POLLING = {"Interval": "5m", "Webhook": "", "ForceUpdate": False, "ForcePullImage": False}


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(ROOT / "inventory.yaml")


def managed(inventory: Inventory, name: str, host: str = "platform") -> GitStack:
    """GitStack over a fake Stack: its variables' values are `value of NAME`, secrets `secret of NAME`."""
    secrets = SimpleNamespace(get=lambda secret: f"secret of {secret}")
    stack = SimpleNamespace(name=name, host=host, source=stack_dir(name), env_value=lambda var: f"value of {var}",
                            remote=SimpleNamespace(inventory=inventory, secrets=secrets))
    return GitStack(stack, SimpleNamespace())


def portainer_stack(gitstack: GitStack, **changes: Any) -> dict[str, Any]:
    """The stack as Portainer holds it after creating `gitstack.create_payload()` at HEAD; `changes` override
    top-level fields (GitConfig=... replaces it whole)."""
    payload = gitstack.create_payload()
    found = {"Id": 3, "Name": payload["Name"], "EndpointId": 1, "Env": payload["Env"],
             "AutoUpdate": payload["AutoUpdate"],
             "GitConfig": {"URL": payload["RepositoryURL"], "ReferenceName": payload["RepositoryReferenceName"],
                           "ConfigFilePath": payload["ComposeFile"], "ConfigHash": HEAD}}
    return {**found, **changes}


# -- create_payload -------------------------------------------------------------------------------------------------


def test_the_exporters_payload(inventory: Inventory) -> None:
    """composeStackFromGitRepositoryPayload: public repository, no variables, polled every 5 minutes."""
    assert managed(inventory, "exporters").create_payload() == {
        "Name": "exporters", "RepositoryURL": REPOSITORY, "RepositoryReferenceName": "refs/heads/main",
        "ComposeFile": "stacks/exporters/compose.yaml", "AdditionalFiles": [], "RepositoryAuthentication": False,
        "RepositoryUsername": "", "RepositoryPassword": "", "Env": [], "TLSSkipVerify": False, "AutoUpdate": POLLING}


def test_the_env_is_every_variable_of_env_example(inventory: Inventory) -> None:
    env = managed(inventory, "monitoring").create_payload()["Env"]
    assert env == [{"name": "HOMELAB_DIR", "value": "value of HOMELAB_DIR"},
                   {"name": "GRAFANA_ADMIN_PASSWORD", "value": "value of GRAFANA_ADMIN_PASSWORD"}]


def test_poll_null_sends_no_auto_update(tmp_path: Path) -> None:
    quiet = git_inventory(tmp_path, f"  repository: {REPOSITORY}\n  poll: null\n")
    assert managed(quiet, "exporters").create_payload()["AutoUpdate"] is None


def test_a_private_repository_sends_its_credentials(tmp_path: Path) -> None:
    private = git_inventory(tmp_path, f"  repository: {REPOSITORY}\n  username: ops\n"
                                      "  password_secret: GRAFANA_ADMIN_PASSWORD\n")
    payload = managed(private, "exporters").create_payload()
    assert (payload["RepositoryAuthentication"], payload["RepositoryUsername"], payload["RepositoryPassword"]) == (
        True, "ops", "secret of GRAFANA_ADMIN_PASSWORD")


def test_the_reference_and_compose_path_follow_the_inventory(tmp_path: Path) -> None:
    tagged = git_inventory(tmp_path, f"  repository: {REPOSITORY}\n  ref: refs/tags/v2\n")
    payload = managed(tagged, "monitoring").create_payload()
    assert (payload["RepositoryReferenceName"], payload["ComposeFile"]) == ("refs/tags/v2",
                                                                            "stacks/monitoring/compose.yaml")


# -- differences ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["exporters", "monitoring"])
def test_the_inventorys_git_stack_at_head_has_no_differences(inventory: Inventory, name: str) -> None:
    gitstack = managed(inventory, name)
    assert gitstack.differences(portainer_stack(gitstack), HEAD) == []


def test_a_stack_portainer_does_not_hold(inventory: Inventory) -> None:
    assert managed(inventory, "exporters").differences(None, HEAD) == ["not in Portainer"]


def test_a_stack_behind_the_reference(inventory: Inventory) -> None:
    gitstack = managed(inventory, "exporters")
    behind = portainer_stack(gitstack, GitConfig={**portainer_stack(gitstack)["GitConfig"], "ConfigHash": "abc1234"})
    assert gitstack.differences(behind, HEAD) == ["runs abc1234, refs/heads/main is at def5678"]


def test_a_stack_from_another_reference(inventory: Inventory) -> None:
    gitstack = managed(inventory, "exporters")
    other = portainer_stack(gitstack, GitConfig={**portainer_stack(gitstack)["GitConfig"],
                                                 "ReferenceName": "refs/heads/dev"})
    assert gitstack.differences(other, HEAD) == ["ReferenceName 'refs/heads/dev'"]


def test_a_stack_not_from_git(inventory: Inventory) -> None:
    gitstack = managed(inventory, "exporters")
    problems = gitstack.differences(portainer_stack(gitstack, GitConfig=None), HEAD)
    assert "not from Git (a stack made in Portainer's editor)" in problems


def test_a_stack_without_polling(inventory: Inventory) -> None:
    gitstack = managed(inventory, "exporters")
    assert gitstack.differences(portainer_stack(gitstack, AutoUpdate=None), HEAD) == ["polling off, not 5m"]


def test_a_stack_polling_at_another_interval(inventory: Inventory) -> None:
    gitstack = managed(inventory, "exporters")
    assert gitstack.differences(portainer_stack(gitstack, AutoUpdate={"Interval": "1h"}), HEAD) == [
        "polling 1h, not 5m"]


def test_a_stack_polling_where_the_inventory_says_not_to(tmp_path: Path) -> None:
    gitstack = managed(git_inventory(tmp_path, f"  repository: {REPOSITORY}\n  poll: null\n"), "exporters")
    assert gitstack.differences(portainer_stack(gitstack), HEAD) == []
    assert gitstack.differences(portainer_stack(gitstack, AutoUpdate={"Interval": "5m"}), HEAD) == [
        "polling 5m, not off"]


@pytest.mark.parametrize("env", [
    [{"name": "HOMELAB_DIR", "value": "value of HOMELAB_DIR"}],  # one missing
    [{"name": "HOMELAB_DIR", "value": "/srv/homelab"},          # one changed
     {"name": "GRAFANA_ADMIN_PASSWORD", "value": "value of GRAFANA_ADMIN_PASSWORD"}],
    None,                                                      # none at all
])
def test_a_stack_whose_env_differs(inventory: Inventory, env: list[dict[str, str]] | None) -> None:
    gitstack = managed(inventory, "monitoring")
    assert gitstack.differences(portainer_stack(gitstack, Env=env), HEAD) == [
        "its Env differs from the stack's variables"]
