"""Phase 2: the Portainer Agent on Unraid and each Proxmox Docker VM runs, restarts by itself, runs the pinned
image, knows the shared secret, and publishes nothing but its port."""

from __future__ import annotations

import hmac

import pytest

from homelab.checks import problem
from homelab.checks.engine import RESTART_OK, env_value, expect_container, pinned_image, published_ports, restart_policy

pytestmark = pytest.mark.phase2

DEPLOY = "deploy the agent stack: `python -m bootstrap phase2` (docker compose up -d in /opt/homelab/stacks/agent)"
SECRET = "AGENT_SECRET"  # noqa: S105 - the name of the secret, not its value


@pytest.mark.spec("P2-AGENT-001", severity="critical", fix=DEPLOY)
@pytest.mark.each("instance", service="portainer-agent")
def test_agent_running(instance, on):
    """The Portainer Agent container runs on every agent host."""
    _, container = expect_container(instance, on(instance.host).docker, DEPLOY)
    assert container.status == "running", problem(
        expected="running", found=container.status, where=f"container {container.name} on {instance.host.name}",
        fix=f"`docker start {container.name}` and read `docker logs {container.name}`; or {DEPLOY}")


@pytest.mark.spec("P2-AGENT-002", severity="medium", fix="give the agent `restart: unless-stopped` and redeploy")
@pytest.mark.each("instance", service="portainer-agent")
def test_agent_restart_policy(instance, on):
    """The agent container restarts by itself (policy unless-stopped or always)."""
    _, container = expect_container(instance, on(instance.host).docker, DEPLOY)
    policy = restart_policy(container)
    assert policy in RESTART_OK, problem(
        expected=" or ".join(RESTART_OK), found=policy, where=f"container {container.name} on {instance.host.name}",
        fix=f"redeploy from stacks/agent/compose.yaml (`restart: unless-stopped`): {DEPLOY}")


@pytest.mark.spec("P2-AGENT-003", severity="high", fix="redeploy so the agent runs the image pinned in stacks/agent")
@pytest.mark.each("instance", service="portainer-agent")
def test_agent_image_pinned(instance, on, inventory):
    """The agent runs the image pinned in stacks/agent (through settings.image_map): no drift."""
    svc, container = expect_container(instance, on(instance.host).docker, DEPLOY)
    wanted, found = pinned_image(inventory, svc), container.attrs["Config"]["Image"]
    assert found == wanted, problem(
        expected=wanted, found=found,
        where=f"container {container.name} on {instance.host.name} (stacks/agent/compose.yaml: {svc.image})",
        fix=f"{DEPLOY}; change versions in stacks/, never on the host")


@pytest.mark.spec("P2-AGENT-004", severity="critical",
                  fix=f"set {SECRET} in the env file (the same value Portainer has) and re-run bootstrap phase 2")
@pytest.mark.each("instance", service="portainer-agent")
def test_agent_secret_set(instance, on, secrets):
    """The agent has AGENT_SECRET, and it is Portainer's (the value is compared, never shown): without it the
    agent trusts the first Portainer that talks to it."""
    _, container = expect_container(instance, on(instance.host).docker, DEPLOY)
    found = env_value(container, SECRET)
    if not found:
        state = "not set" if found is None else "set but empty"
    else:
        state = "the inventory's value" if hmac.compare_digest(found, secrets.get(SECRET)) else "a different value"
    assert state == "the inventory's value", problem(
        expected=f"{SECRET} set to the inventory's value (the one Portainer signs with)", found=state,
        where=f"container {container.name} on {instance.host.name}",
        fix=f"put {SECRET} in /opt/homelab/stacks/agent/.env from the env file: {DEPLOY}")


@pytest.mark.spec("P2-AGENT-005", severity="high",
                  fix="publish only the agent port of the inventory (stacks/agent/compose.yaml) and redeploy")
@pytest.mark.each("instance", service="portainer-agent")
def test_agent_publishes_only_its_port(instance, on):
    """The agent container publishes exactly the inventory's ports (9001/tcp): no second way in."""
    _, container = expect_container(instance, on(instance.host).docker, DEPLOY)
    wanted = {f"{p.port}/{p.protocol}" for p in instance.service.ports}
    found = published_ports(container)
    assert found == wanted, problem(
        expected=", ".join(sorted(wanted)), found=", ".join(sorted(found)) or "nothing published",
        where=f"container {container.name} on {instance.host.name}",
        fix=f"remove the extra `ports:` (an override file or a manual `docker run`), then {DEPLOY}")
