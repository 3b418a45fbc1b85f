"""The host firewall specs fail as "could not observe" when they cannot read what they judge, never pass or skip:
P1-FW-001 and P2-FW-002 (ufw's own status, read by the run's real `PhaseProbes.ufw`), P2-FW-001 (DOCKER-USER and
HOMELAB-DOCKER) and P2-FW-003 (Unraid's /boot/config/go). The real specs run through pytester against the real
inventory, over hosts whose sudo wants a password, and over hosts where everything is in place (they pass), so
that the failure is the refusal and nothing else.
"""

from __future__ import annotations

import json
import shutil

import pytest
from spec_project import run_for_outcomes

from homelab.model.paths import REPO

SPECS = ("test_ufw_active_default_deny[platform]", "test_agent_host_ufw_active[pve-docker-1]",
         "test_agent_host_ufw_active[pve-docker-2]", "test_agent_host_docker_user_chain[pve-docker-1]",
         "test_agent_host_docker_user_chain[unraid]", "test_unraid_rules_persisted[unraid]")

FAKES = '''\
"""Hosts that answer every command as world.json says: refused (sudo wants a password), or in place."""

import json
from pathlib import Path

import pytest

from homelab.checks.reach import PhaseProbes
from homelab.model import firewall
from homelab.transport.ssh import CommandResult
from selftests.fake_access import FakeAccess

UFW = """Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), deny (routed)
New profiles: skip
"""


class Ssh:
    def __init__(self, inventory):
        self.inventory = inventory

    def run(self, host, command, timeout=None):
        if json.loads(Path("world.json").read_text())["refused"]:
            return CommandResult(1, "", "sudo: a password is required")
        if "ufw status" in command:
            return CommandResult(0, UFW, "")
        if "/boot/config/go" in command:
            return CommandResult(0, firewall.go_snippet(firewall.unraid_block(self.inventory, host)), "")
        if "iptables -S" in command:
            rules = "\\n".join(firewall.docker_rules(self.inventory, host))
            return CommandResult(0, f"-N DOCKER-USER\\n-A DOCKER-USER -j {firewall.CHAIN}\\n---\\n{rules}\\n", "")
        return CommandResult(127, "", f"unexpected: {command}")

    def failure(self, host):
        return None


@pytest.fixture(scope="session")
def access(inventory):
    return FakeAccess(ssh=Ssh(inventory))


@pytest.fixture(scope="session")
def reachability(inventory, access):
    return PhaseProbes(inventory, access.ssh, plain=True)
'''


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    shutil.copy(REPO / "pyproject.toml", pytester.path / "pyproject.toml")
    shutil.copy(REPO / "inventory.yaml", pytester.path / "inventory.yaml")
    for phase, name in (("phase1", "test_firewall.py"), ("phase2", "test_agent_firewall.py")):
        (pytester.path / "tests" / phase).mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "tests" / phase / name, pytester.path / "tests" / phase / name)
    (pytester.path / "tests" / "conftest.py").write_text(FAKES)
    monkeypatch.setenv("PYTHONPATH", f"{REPO}:{REPO / 'scripts'}")
    return pytester


def outcomes(project: pytest.Pytester, refused: bool) -> dict[str, tuple[str, str]]:
    (project.path / "world.json").write_text(json.dumps({"refused": refused}))
    found = run_for_outcomes(project, project.path / "conftest.py", "--inventory", "inventory.yaml", "-k",
                             "ufw_active or docker_user_chain or rules_persisted", "tests")
    assert set(SPECS) <= set(found), f"not run: {sorted(set(SPECS) - set(found))}"
    return found


def test_firewall_specs_pass_where_the_firewall_is_in_place(project: pytest.Pytester) -> None:
    found = outcomes(project, refused=False)
    assert {name: found[name][0] for name in SPECS} == dict.fromkeys(SPECS, "passed"), \
        {name: found[name] for name in SPECS if found[name][0] != "passed"}


def test_firewall_specs_fail_as_could_not_observe_when_sudo_is_refused(project: pytest.Pytester) -> None:
    found = outcomes(project, refused=True)
    for name in SPECS:
        outcome, message = found[name]
        assert outcome == "failed", (name, found[name])
        assert "could not observe" in message, (name, message)
        assert "sudo: a password is required" in message, (name, message)
