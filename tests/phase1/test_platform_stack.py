"""Phase 1: the platform stack's containers run, healthy, restart by themselves, and run the pinned images."""

from __future__ import annotations

import pytest

from homelab.checks import could_not_observe, problem
from homelab.checks.engine import (
    ENV_MODES_OK,
    RESTART_OK,
    Unobserved,
    env_file_of,
    exempt_from_health,
    expect_container,
    health,
    pinned_image,
    read_stat,
    restart_policy,
    stat_command,
)
from homelab.specs.targets import Instance

pytestmark = pytest.mark.phase1

DEPLOY = "deploy the stack: `python -m bootstrap phase1` (docker compose up -d in the stack directory)"


def container_of(instance, on):
    __tracebackhide__ = True
    return expect_container(instance, on(instance.host).docker, DEPLOY)


@pytest.mark.spec("P1-STACK-001", severity="critical", fix=DEPLOY)
@pytest.mark.each("instance", stack="platform")
def test_container_running(instance, on):
    """Each platform service has a running container."""
    _, container = container_of(instance, on)
    assert container.status == "running", problem(
        expected="running", found=container.status, where=f"container {container.name} on {instance.host.name}",
        fix=f"`docker start {container.name}`, then read `docker logs {container.name}`; or {DEPLOY}")


@pytest.mark.spec("P1-STACK-002", severity="high",
                  fix="read `docker inspect --format '{{json .State.Health}}' NAME` and fix what the check reports")
@pytest.mark.each("instance", stack="platform")
def test_container_healthy(instance, on):
    """Each platform container is healthy, or running where the stack documents `homelab.healthcheck: none`."""
    svc, container = container_of(instance, on)
    exempt = exempt_from_health(svc)
    found = health(container) if container.status == "running" and not exempt else container.status
    assert found == ("running" if exempt else "healthy"), problem(
        expected="running (healthcheck exempt)" if exempt else "healthy", found=found,
        where=f"container {container.name} on {instance.host.name}",
        fix=f"`docker inspect --format '{{{{json .State.Health}}}}' {container.name}`; fix what the check reports")


@pytest.mark.spec("P1-STACK-003", severity="medium", fix="give the service `restart: unless-stopped` and redeploy")
@pytest.mark.each("instance", stack="platform")
def test_container_restart_policy(instance, on):
    """Each platform container restarts by itself (policy unless-stopped or always)."""
    _, container = container_of(instance, on)
    policy = restart_policy(container)
    assert policy in RESTART_OK, problem(
        expected=" or ".join(RESTART_OK), found=policy, where=f"container {container.name} on {instance.host.name}",
        fix=f"redeploy from stacks/{instance.service.stack}/compose.yaml (`restart: unless-stopped`)")


@pytest.mark.spec("P1-STACK-004", severity="high",
                  fix="redeploy the stack so each container runs the image pinned in stacks/ (no manual re-tagging)")
@pytest.mark.each("instance", stack="platform")
def test_container_image_pinned(instance, on, inventory):
    """Each platform container runs the image pinned in stacks/ (through settings.image_map): no drift."""
    svc, container = container_of(instance, on)
    wanted = pinned_image(inventory, svc)
    found = container.attrs["Config"]["Image"]
    assert found == wanted, problem(
        expected=wanted, found=found, where=f"container {container.name} on {instance.host.name} "
        f"(stacks/{instance.service.stack}/compose.yaml: {svc.image})",
        fix=f"{DEPLOY}; change versions in stacks/, never on the host")


@pytest.mark.spec("P1-STACK-005", severity="high",
                  fix="`chmod 600 .env` (or 640, group of the deploy user) in the stack directory, owned by root "
                      "or the SSH user")
@pytest.mark.each("host", stack="platform")
def test_stack_env_private(host, on, inventory):
    """The platform stack's `.env` on the host is readable by its owner (and group) only: mode 600 or 640."""
    first = next(Instance(s, h) for s, h in inventory.instances() if h == host and s.stack == "platform")
    _, container = container_of(first, on)
    path = env_file_of(container)
    assert path, problem(expected="a compose project with an env file", found="no compose labels", where=container.name,
                         fix=DEPLOY)
    try:
        found = read_stat(on(host).run(stat_command(path, host.ssh.user)))
    except Unobserved as exc:
        pytest.fail(could_not_observe(str(exc), host.name, f"`stat {path}` as root over SSH as {host.ssh.user}"),
                    pytrace=False)
    assert found is not None, problem(expected=f"{path} to exist", found="no such file", where=host.name, fix=DEPLOY)
    mode, owner, group = found
    private = mode in ENV_MODES_OK and owner in ("root", host.ssh.user)
    assert private, problem(
        expected="mode 600 or 640, owned by root or " + host.ssh.user, found=f"mode {mode:o}, owner {owner}:{group}",
        where=f"{host.name}:{path}", fix=f"sudo chmod 600 {path}; sudo chown root: {path}")

