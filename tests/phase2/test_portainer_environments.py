"""Phase 2: Portainer manages every Docker host of the inventory, as the inventory says, and nothing else.

One environment per host, named after it: the platform VM over Portainer's own socket, each agent host as an
Agent environment at tcp://ADDRESS:9001, with the inventory's group and tags, and up after a fresh snapshot.
"""

from __future__ import annotations

import pytest

from homelab.checks import problem
from homelab.clients.environments import UP, identity_differences, placement_differences, wanted

pytestmark = pytest.mark.phase2

BOOTSTRAP = "re-run `python -m bootstrap phase2` (it registers and updates environments by name)"
MANAGED = ("platform", "agent")


def environment(portainer, want):
    """Portainer's environment for `want`, or a failure saying it is not registered."""
    __tracebackhide__ = True
    found = portainer.environments().get(want.name)
    if found is None:
        pytest.fail(problem(expected=str(want), found="no environment by that name", where=portainer.where,
                            fix=f"{BOOTSTRAP}, or add it in Portainer (Environments > Add environment)"), pytrace=False)
    return found


@pytest.mark.spec("P2-PT-001", severity="high", fix=BOOTSTRAP)
@pytest.mark.each("host", role=MANAGED)
def test_environment_registered(host, inventory, portainer):
    """Portainer has an environment named after the host, of the right kind and URL."""
    want = wanted(inventory, host)
    found = environment(portainer, want)
    diffs = identity_differences(want, found)
    assert not diffs, problem(expected=str(want), found="; ".join(diffs),
                              where=f"{portainer.where}, environment id {found['Id']}",
                              fix=f"{BOOTSTRAP}; a wrong type must be deleted in Portainer first")


@pytest.mark.spec("P2-PT-002", severity="medium", fix=BOOTSTRAP)
@pytest.mark.each("host", role=MANAGED)
def test_environment_group_and_tags(host, inventory, portainer):
    """The host's environment is in the inventory's group, with exactly the inventory's tags."""
    want = wanted(inventory, host)
    found = environment(portainer, want)
    diffs = placement_differences(want, found, portainer.groups(), portainer.tags())
    assert not diffs, problem(
        expected=f"group {host.portainer.group}, tags {', '.join(sorted(host.portainer.tags)) or 'none'}",
        found="; ".join(diffs), where=f"{portainer.where}, environment {want.name}",
        fix=f"{BOOTSTRAP}; change placement in inventory.yaml")


@pytest.mark.spec("P2-PT-003", severity="critical",
                  fix="start the agent, let the platform VM reach 9001, and use the same AGENT_SECRET on both sides")
@pytest.mark.each("host", role=MANAGED)
def test_environment_up(host, inventory, portainer, access, on):
    """Portainer marks the host's environment up after a fresh snapshot (it can reach and read its engine)."""
    on(host)  # a host that is down: the host-down policy
    want = wanted(inventory, host)
    found = environment(portainer, want)
    status = portainer.status_after_snapshot(found, among=access.answering())
    assert status == UP, problem(
        expected="status 1 (up) after a snapshot", found=f"status {status} (down)",
        where=f"{portainer.where}, environment {want.name}", fix=f"check the portainer-agent container on {host.name} "
        "(`docker logs portainer-agent`), that the platform VM reaches it on 9001, and that AGENT_SECRET matches "
        "Portainer's")


@pytest.mark.spec("P2-PT-004", severity="high",
                  fix="remove environments the inventory does not know, or add their hosts to inventory.yaml")
@pytest.mark.each("instance", service="portainer")
def test_no_unknown_environments(instance, inventory, portainer):
    """Portainer manages no environment that the inventory does not know (every host is named in it)."""
    unknown = sorted(name for name in portainer.environments() if name not in inventory.hosts)
    assert not unknown, problem(
        expected="only environments named after hosts of the inventory",
        found=f"unknown environments {', '.join(unknown)}", where=portainer.where, fix="delete them in Portainer "
        "(Environments), or add the hosts to inventory.yaml and run bootstrap: a machine Portainer manages is a "
        "machine the nightly run must check")
