"""Phase 4: Uptime Kuma has one monitor per service instance of the inventory, exactly as planned, and each
says the service is up.

Monitors are named `SERVICE@HOST` (the spec ids); a service NPM forwards to over HTTP is watched on its upstream
(`http://ADDRESS:PORT/`), any other on its first TCP port (docs/observability.md). A service that publishes
nothing (the Edge agent dials out) has nothing to probe and no monitor. A monitor of an on-demand host that is
off, or of a GPU stack stopped for gaming, is down by design: those skip, saying so.
"""

from __future__ import annotations

import pytest

from homelab.checks import problem
from homelab.model import monitoring

pytestmark = pytest.mark.phase4

PHASE4 = "re-run `python -m bootstrap phase4` (it creates or updates each monitor by name, never a second one)"


def planned(instance, inventory):
    spec = monitoring.monitor_spec(instance.service, instance.host, inventory.settings.monitor_interval)
    assert spec is not None  # `monitored` holds the instances that have one (conftest.py)
    return spec


@pytest.mark.spec("P4-KUMA-001", severity="medium", fix=PHASE4)
def test_monitor_configured(monitored, kuma, inventory):
    """Each service instance has exactly one Uptime Kuma monitor of its name, probing what the plan says."""
    instance = monitored
    spec = planned(instance, inventory)
    found = kuma.monitors().get(spec.name, [])
    if len(found) != 1:
        state = "no monitor by that name" if not found else f"{len(found)} monitors by that name"
    else:
        diffs = found[0].differences(spec)
        state = f"differs in {', '.join(diffs)}" if diffs else "as planned"
    assert state == "as planned", problem(expected=f"monitor {spec.name}: {monitoring.describe(spec)}", found=state,
                                          where=f"Uptime Kuma at {kuma.url}", fix=PHASE4
                                          + ("; delete the duplicates in Uptime Kuma" if len(found) > 1 else ""))


@pytest.mark.spec("P4-KUMA-002", severity="high",
                  fix="start the service (its stack's phase of bootstrap), and let the platform VM reach its port")
def test_monitor_up(monitored, kuma, on, inventory):
    """Each service instance's monitor says it is up (Uptime Kuma's last check succeeded)."""
    instance = monitored
    spec = planned(instance, inventory)
    state = kuma.states().get(spec.name)
    if state == "up":
        return
    reason = on.off_by_design(instance)
    if reason:
        pytest.skip(f"monitor {spec.name}: {reason}")
    if state is None:
        state = "no monitor by that name" if spec.name not in kuma.monitors() else "not checked yet (no heartbeat)"
    assert state == "up", problem(
        expected=f"monitor {spec.name} up ({monitoring.describe(spec)})", found=state,
        where=f"Uptime Kuma at {kuma.url}", fix=f"{PHASE4} if the monitor is missing; else start "
        f"{instance.service.name} on {instance.host.name} (phase {instance.service.phase}) and let the platform VM "
        "reach it")
