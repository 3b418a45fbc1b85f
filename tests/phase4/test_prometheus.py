"""Phase 4: Prometheus is ready, reads the file_sd targets that bootstrap generated from the inventory, and
scrapes every exporter of every host, and nothing else.

A target of an on-demand host that is off is down by design: that spec skips, saying so.
"""

from __future__ import annotations

import json
import shlex

import httpx
import pytest

from homelab.checks import problem
from homelab.checks.engine import expect_container
from homelab.model import monitoring

pytestmark = pytest.mark.phase4

PHASE4 = "re-run `python -m bootstrap phase4`"
TARGETS_FIX = f"{PHASE4}: it writes prometheus/targets/JOB-inventory.json from inventory.yaml (never edit them)"
CONFIG_DIR = "/etc/prometheus"  # where the stack mounts stacks/monitoring/prometheus


def url_of(instance) -> str:
    return f"http://{instance.host.address}:{monitoring.first_tcp_port(instance.service)}"


def config_source(container) -> str | None:
    """The host folder mounted at /etc/prometheus in the Prometheus container."""
    return next((m.get("Source") for m in container.attrs.get("Mounts") or [] if m.get("Destination") == CONFIG_DIR),
                None)


@pytest.mark.spec("P4-PROM-001", severity="critical", fix=f"start Prometheus: {PHASE4}; `docker logs prometheus`")
@pytest.mark.each("instance", service="prometheus")
def test_prometheus_ready(instance, http):
    """Prometheus answers GET /-/ready with 200 (its storage is loaded and it scrapes)."""
    url = f"{url_of(instance)}/-/ready"
    try:
        found = f"HTTP {http.get(url).status_code}"
    except httpx.HTTPError as exc:
        found = f"no answer ({type(exc).__name__}: {exc})"
    assert found == "HTTP 200", problem(expected="HTTP 200", found=found, where=f"GET {url}",
                                        fix=f"start Prometheus: {PHASE4}; read `docker logs prometheus`")


@pytest.mark.spec("P4-PROM-002", severity="high", fix=TARGETS_FIX)
@pytest.mark.each("instance", service="prometheus")
@pytest.mark.parametrize("job", list(monitoring.JOBS))
def test_file_sd_targets_from_inventory(instance, job, inventory, on):
    """The file_sd file of each job (node, cadvisor) lists every host of the inventory with the exporters stack,
    at its address and port, labelled with its host, role and availability: nothing missing, nothing extra."""
    _, container = expect_container(instance, on(instance.host).docker, f"deploy the monitoring stack: {PHASE4}")
    path = f"{config_source(container) or '(no ' + CONFIG_DIR + ' mount)'}/targets/{job}-inventory.json"
    text = on(instance.host).run(f"cat {shlex.quote(path)} 2>&1").stdout
    try:
        found = {t: g.get("labels", {}) for g in json.loads(text) for t in g.get("targets", [])}
    except (ValueError, AttributeError, TypeError):
        found = None
    wanted = {t.address: t.labels for t in monitoring.scrape_targets(inventory, job)}
    if found is None:
        diffs = [f"not a file_sd list: {text.strip()[:200]}"]
    else:
        diffs = [f"{a} ({w['host']}) missing" for a, w in wanted.items() if a not in found]
        diffs += [f"{a} not in the inventory" for a in found if a not in wanted]
        diffs += [f"{a} labelled {found[a]}" for a, w in wanted.items() if a in found and found[a] != w]
    assert not diffs, problem(expected=f"{len(wanted)} {job} targets from inventory.yaml", found="; ".join(diffs),
                              where=f"{instance.host.name}:{path}", fix=TARGETS_FIX)


@pytest.mark.spec("P4-PROM-003", severity="high",
                  fix="start the exporter on the host, let the platform VM reach its port, re-run bootstrap phase 4")
@pytest.mark.each("instance", stack="exporters")
def test_target_up(instance, inventory, prometheus, on):
    """Prometheus scrapes each exporter of each host successfully (its target is `up`); a target of an on-demand
    host that is off is reported as such, not failed."""
    target = monitoring.target_for(inventory, instance.service, instance.host)
    assert target is not None
    seen = prometheus.targets().get((target.job, target.address))
    if seen is not None and seen.health == "up":
        return
    reason = on.off_by_design(instance)
    if reason:
        pytest.skip(f"{target.job} target {target.address}: {reason}")
    where = f"Prometheus at {prometheus.url}, job {target.job}"
    assert seen is not None, problem(expected=f"target {target.address} ({instance.host.name})", found="no such target",
                                     where=where, fix=TARGETS_FIX)
    assert seen.health == "up", problem(
        expected=f"target {target.address} ({instance.host.name}) up",
        found=f"{seen.health}: {seen.last_error or 'no error given'}", where=where, fix="start "
        f"{instance.service.name} on {instance.host.name} (`docker start {instance.service.name}`, or {PHASE4}) and "
        f"let the platform VM reach port {target.address.rsplit(':', 1)[1]}")


@pytest.mark.spec("P4-PROM-004", severity="medium", fix=TARGETS_FIX)
@pytest.mark.each("instance", service="prometheus")
def test_no_unknown_targets(instance, inventory, prometheus):
    """Prometheus scrapes no exporter the inventory does not know (a hand-made file_sd file, a stale host)."""
    planned = {(t.job, t.address) for t in monitoring.scrape_targets(inventory)}
    unknown = sorted(f"{job} {address}" for job, address in prometheus.targets()
                     if job in monitoring.JOBS and (job, address) not in planned)
    assert not unknown, problem(expected="only the inventory's exporters",
                                found=f"unknown targets {', '.join(unknown)}", where=f"Prometheus at {prometheus.url}",
                                fix=f"remove the extra files from {CONFIG_DIR}/targets on {instance.host.name}, or "
                                f"add the hosts to inventory.yaml; {TARGETS_FIX}")
