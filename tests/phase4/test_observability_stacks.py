"""Phase 4: the monitoring stack (Prometheus, Grafana) on the platform VM and the exporters (node-exporter,
cAdvisor) on every Docker host run, healthy, on the pinned images, publishing only the inventory's ports.

An on-demand host that is off skips (host-down policy).
"""

from __future__ import annotations

import pytest

from homelab.checks import problem
from homelab.checks.engine import expect_container, health, pinned_image, published_ports, restart_policy, runs_image

pytestmark = pytest.mark.phase4

DEPLOY = "deploy it: `python -m bootstrap phase4` (docker compose up -d in /opt/homelab/stacks/STACK)"
STACKS = ("monitoring", "exporters")


def deploy(instance) -> str:
    return DEPLOY.replace("STACK", instance.service.stack)


@pytest.mark.spec("P4-STACK-001", severity="high", fix=DEPLOY)
@pytest.mark.each("instance", stack=STACKS)
def test_container_running(instance, on):
    """Prometheus and Grafana on the platform VM, node-exporter and cAdvisor on every Docker host run, and are
    healthy."""
    _, container = expect_container(instance, on(instance.host).docker, deploy(instance))
    found = health(container) if container.status == "running" else container.status
    assert found in ("healthy", "none"), problem(
        expected="running and healthy", found=found, where=f"container {container.name} on {instance.host.name}",
        fix=f"`docker start {container.name}` and read `docker logs {container.name}`; or {deploy(instance)}")


@pytest.mark.spec("P4-STACK-002", severity="medium", fix="redeploy so each container runs the image pinned in stacks/")
@pytest.mark.each("instance", stack=STACKS)
def test_container_pinned(instance, on, inventory):
    """Each observability container runs the image pinned in its stack (through settings.image_map) and restarts
    by itself."""
    svc, container = expect_container(instance, on(instance.host).docker, deploy(instance))
    wanted, found = pinned_image(inventory, svc), container.attrs["Config"]["Image"]
    policy = restart_policy(container)
    ok = runs_image(on(instance.host).docker, container, wanted) and policy in ("unless-stopped", "always")
    assert ok, problem(
        expected=f"image {wanted}, restart unless-stopped", found=f"image {found}, restart {policy}",
        where=f"container {container.name} on {instance.host.name}",
        fix=f"{deploy(instance)}; change versions in stacks/")


@pytest.mark.spec("P4-STACK-003", severity="high",
                  fix="publish only the inventory's ports (stacks/monitoring, stacks/exporters) and redeploy")
@pytest.mark.each("instance", stack=STACKS)
def test_container_publishes_only_its_ports(instance, on):
    """Each observability container publishes exactly the inventory's ports: no second way in."""
    _, container = expect_container(instance, on(instance.host).docker, deploy(instance))
    wanted = {f"{p.port}/{p.protocol}" for p in instance.service.ports}
    found = published_ports(container)
    assert found == wanted, problem(
        expected=", ".join(sorted(wanted)), found=", ".join(sorted(found)) or "nothing published",
        where=f"container {container.name} on {instance.host.name}",
        fix=f"remove the extra `ports:` (an override file or a manual `docker run`), then {deploy(instance)}")
