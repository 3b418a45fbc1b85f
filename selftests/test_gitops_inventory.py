"""The inventory's `git:` section (issue #18, homelab.model.inventory_loader._git): what it accepts, its defaults, and
the one-line refusal, naming file:line and field, of each malformed value. Also the shared helper of the
test_gitops_* selftests: the repository's inventory.yaml with its `git:` section replaced, written to a temporary
folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from homelab.model.inventory import GitSource, Inventory
from homelab.model.inventory_loader import InventoryError, load_inventory
from homelab.model.paths import REPO

EXAMPLE = REPO / "inventory.yaml"
EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
GIT_SECTION = re.compile(r"^git:\n(?:  .*\n)*", re.MULTILINE)  # the section: `git:` and its indented lines
CA_BUNDLE = re.compile(r"^  ca_bundle:.*$", re.MULTILINE)
REPOSITORY = "https://git.home.example.com/homelab/homelab.git"


def inventory_text(git: str | None, ca_bundle: Path | None = None) -> str:
    """The example inventory with its `git:` section's body replaced by `git` (YAML lines, indented two spaces) or
    the section removed (None); `ca_bundle` sets settings.ca_bundle."""
    text, found = GIT_SECTION.subn(lambda _: "" if git is None else "git:\n" + git, EXAMPLE_TEXT)
    assert found == 1, "inventory.yaml has no top-level `git:` section"
    if ca_bundle is not None:
        text, found = CA_BUNDLE.subn(f"  ca_bundle: {ca_bundle}", text)
        assert found == 1, "inventory.yaml has no settings.ca_bundle"
    return text


def git_inventory(tmp_path: Path, git: str | None, ca_bundle: Path | None = None) -> Inventory:
    """A copy of the example inventory, loaded from `tmp_path`, whose `git:` section is `git` (see inventory_text)."""
    path = tmp_path / "inventory.yaml"
    path.write_text(inventory_text(git, ca_bundle), encoding="utf-8")
    return load_inventory(path)


def refusal(tmp_path: Path, git: str) -> str:
    """The loader's message for an inventory whose `git:` section is `git`, after `FILE:`."""
    with pytest.raises(InventoryError) as caught:
        git_inventory(tmp_path, git)
    message = str(caught.value)
    prefix = f"{tmp_path / 'inventory.yaml'}:"
    assert message.startswith(prefix), message
    assert "\n" not in message
    return message.removeprefix(prefix)


def git_line(offset: int) -> int:
    """The line of the `offset`-th line under `git:` (1: the first key) in a copy made by inventory_text."""
    return EXAMPLE_TEXT.splitlines().index("git:") + 1 + offset


# -- what it accepts ------------------------------------------------------------------------------------------------


def test_the_example_names_its_repository_and_branch() -> None:
    """The example inventory's `git:` section: this repository on the main branch, Portainer deploying it, polled
    every 5 minutes."""
    git = load_inventory(EXAMPLE).git
    assert git == GitSource(REPOSITORY, "refs/heads/main", "portainer", "5m", None, None, None)


def test_only_a_repository_is_required_the_rest_defaults(tmp_path: Path) -> None:
    git = git_inventory(tmp_path, f"  repository: {REPOSITORY}\n").git
    assert git is not None
    assert (git.ref, git.deploy, git.poll) == ("refs/heads/main", "portainer", "5m")
    assert (git.address, git.username, git.password_secret) == (None, None, None)


def test_every_key_is_read(tmp_path: Path) -> None:
    git = git_inventory(tmp_path, f"  repository: {REPOSITORY}\n  ref: refs/tags/v1.2\n  deploy: direct\n"
                                  "  poll: 1h30m\n  address: 198.51.100.10\n  username: ops\n"
                                  "  password_secret: GRAFANA_ADMIN_PASSWORD\n").git
    assert git is not None
    assert (git.ref, git.deploy, git.poll, str(git.address)) == ("refs/tags/v1.2", "direct", "1h30m", "198.51.100.10")
    assert (git.username, git.password_secret) == ("ops", "GRAFANA_ADMIN_PASSWORD")


def test_poll_null_means_no_polling(tmp_path: Path) -> None:
    git = git_inventory(tmp_path, f"  repository: {REPOSITORY}\n  poll: null\n").git
    assert git is not None
    assert git.poll is None


def test_no_git_section_is_no_git_source(tmp_path: Path) -> None:
    assert git_inventory(tmp_path, None).git is None




def test_compose_path_and_host_name() -> None:
    git = GitSource("https://git.home.example.com:3000/homelab/homelab.git")
    assert git.compose_path("exporters") == "stacks/exporters/compose.yaml"
    assert git.host_name == "git.home.example.com"


# -- what it refuses, in one line naming file:line and field ---------------------------------------------------------

_NOT_A_URL = ("is not an HTTPS URL of a repository; expected one like https://git.home.example.com/homelab/homelab.git "
              "(Portainer deploys what it clones: the clone must be verified and private, never plain HTTP)")


@pytest.mark.parametrize("url", ["ssh://git@git.home.example.com/homelab.git", "git@git.home.example.com:homelab.git",
                                 "file:///srv/git/homelab.git", "https://git.home.example.com/",
                                 "http://git.home.example.com/homelab/homelab.git",
                                 "https://git.home.example.com"])
def test_a_repository_that_is_not_an_https_url_of_a_path_is_refused(tmp_path: Path, url: str) -> None:
    assert refusal(tmp_path, f"  repository: '{url}'\n") == f"{git_line(1)}: git.repository: {url!r} {_NOT_A_URL}"


@pytest.mark.parametrize("ref", ["main", "heads/main", "refs/remotes/origin/main", "HEAD"])
def test_a_ref_that_is_not_a_full_branch_or_tag_is_refused(tmp_path: Path, ref: str) -> None:
    assert refusal(tmp_path, f"  repository: {REPOSITORY}\n  ref: {ref}\n") == (
        f"{git_line(2)}: git.ref: {ref!r} is not a full reference; expected refs/heads/BRANCH or refs/tags/TAG")


@pytest.mark.parametrize("poll", ["5 minutes", "0m", "5", "-5m", "5d", "m"])
def test_a_poll_that_is_not_a_go_duration_is_refused(tmp_path: Path, poll: str) -> None:
    """Portainer's AutoUpdate.Interval is parsed by Go's time.ParseDuration; zero is no interval at all."""
    assert refusal(tmp_path, f"  repository: {REPOSITORY}\n  poll: '{poll}'\n") == (
        f"{git_line(2)}: git.poll: {poll!r} is not a duration; expected one like 5m, 1h or 90s (or null: no polling)")


def test_an_unknown_deploy_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, f"  repository: {REPOSITORY}\n  deploy: swarm\n") == (
        f"{git_line(2)}: git.deploy: is 'swarm'; expected one of portainer, direct")


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, f"  repository: {REPOSITORY}\n  branch: main\n") == (
        f"{git_line(2)}: git.branch: unknown key; expected one of repository, ref, deploy, poll, address, username, "
        "password_secret")


def test_a_password_secret_not_named_under_secrets_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, f"  repository: {REPOSITORY}\n  username: ops\n  password_secret: GIT_TOKEN\n") == (
        f"{git_line(3)}: git.password_secret: 'GIT_TOKEN' is not named under `secrets:`; expected one of its names "
        "(the value lives in the env file)")


def test_a_missing_repository_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, "  ref: refs/heads/main\n") == (
        f"{git_line(0)}: git.repository: is missing; expected the URL of this repository")


@pytest.mark.parametrize("url", ["https://homelab:ghp_secret-token@git.home.example.com/homelab/homelab.git",
                                 "https://homelab@git.home.example.com/homelab/homelab.git"])
def test_a_repository_url_holding_credentials_is_refused(tmp_path: Path, url: str) -> None:
    """A token in the URL would reach every message and report: the loader refuses it, naming the fields to use."""
    message = refusal(tmp_path, f"  repository: '{url}'\n")
    assert message.startswith(f"{git_line(1)}: git.repository: holds credentials; expected a URL without them")
    assert "git.username and git.password_secret" in message
    assert "ghp_secret-token" not in message
