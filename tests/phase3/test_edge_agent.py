"""Phase 3: each GPU worker's Portainer Edge agent runs, opens no port (it only dials out), and Portainer has
the worker's Edge environment, placed as the inventory says, with a recent check-in; and Portainer gives the Edge
agents no Edge job to run on the workers.

A worker is on-demand: when it is off, its specs skip with that reason (the report counts it as off). The Edge job
spec asks Portainer alone, so it runs whether the workers are on or not.
"""

from __future__ import annotations

import pytest

from homelab.checks import problem
from homelab.checks.engine import compose_service, env_value, expect_container, find_container, published_ports
from homelab.checks.reach import expect_reach, service_host
from homelab.checks.tls import handshake
from homelab.clients.environments import (
    EDGE,
    edge_id_mismatch,
    edge_key_url,
    edge_poll_url,
    edge_poll_verified,
    identity_differences,
    placement_differences,
    wanted,
)

pytestmark = pytest.mark.phase3

DEPLOY = "deploy the edge agent: `python -m bootstrap phase3` (the worker on, WSL2 running)"
CHECKIN_DEFAULT = 5   # Portainer's default Edge check-in interval (seconds), when the environment sets none
SLACK = 20            # Portainer's own allowance in its Edge heartbeat: 2 x interval + 20 s
AGENT = "portainer-edge-agent"  # the compose service (and container) of stacks/edge-agent


@pytest.mark.spec("P3-EDGE-001", severity="high", fix=DEPLOY)
@pytest.mark.each("instance", service="portainer-edge-agent")
def test_edge_agent_running(instance, on):
    """The Portainer Edge agent container runs on every GPU worker that is on."""
    _, container = expect_container(instance, on(instance.host).docker, DEPLOY)
    assert container.status == "running", problem(
        expected="running", found=container.status, where=f"container {container.name} on {instance.host.name}",
        fix=f"`docker start {container.name}`; or {DEPLOY}")


@pytest.mark.spec("P3-EDGE-002", severity="critical",
                  fix="remove `ports:` from stacks/edge-agent: an Edge agent dials out to Portainer and needs no port")
@pytest.mark.each("instance", service="portainer-edge-agent")
def test_edge_agent_publishes_nothing(instance, on):
    """The Edge agent container publishes no port: Edge agents only dial out."""
    _, container = expect_container(instance, on(instance.host).docker, DEPLOY)
    found = published_ports(container)
    assert not found, problem(expected="no published port", found=", ".join(sorted(found)),
                              where=f"container {container.name} on {instance.host.name}", fix="remove the ports from "
                              f"stacks/edge-agent/compose.yaml (or the override), then {DEPLOY}")


@pytest.mark.spec("P3-EDGE-003", severity="critical",
                  fix="close 9001 on the worker: no agent port on a GPU worker (Windows firewall and WSL2 alike)")
@pytest.mark.each("host", stack="edge-agent")
@pytest.mark.each("source")
def test_worker_agent_port_closed(host, source, reachability, on):
    """No agent port (9001) answers on a GPU worker, from anywhere: its Edge agent dials out instead."""
    expect_reach(reachability, on, source, host, 9001, "agent port", allowed=False)


def agent_edge_id(on, host) -> str | None:
    """The EDGE_ID the worker's Edge agent container runs with (None when there is no such container)."""
    container = find_container(on(host).docker, compose_service("edge-agent", AGENT), "edge-agent")
    return env_value(container, "EDGE_ID") if container is not None else None


def edge_environment(portainer, inventory, host, on):
    __tracebackhide__ = True
    on(host)
    want = wanted(inventory, host)
    found = portainer.environments().get(want.name)
    if found is None:
        pytest.fail(problem(expected=str(want), found="no environment by that name", where=portainer.where,
                            fix="re-run `python -m bootstrap phase3` with the worker on"), pytrace=False)
    return want, found


@pytest.mark.spec("P3-EDGE-004", severity="high", fix="re-run `python -m bootstrap phase3` with the worker on")
@pytest.mark.each("host", stack="edge-agent")
def test_edge_environment_registered(host, inventory, portainer, on):
    """Portainer has the worker's Edge environment, named after it, in the inventory's group with its tags."""
    want, found = edge_environment(portainer, inventory, host, on)
    diffs = identity_differences(want, found) + placement_differences(want, found, portainer.groups(),
                                                                      portainer.tags())
    assert not diffs, problem(expected=f"{want}, group {host.portainer.group}, tags {', '.join(host.portainer.tags)}",
                              found="; ".join(diffs), where=f"{portainer.where}, environment {want.name}",
                              fix="re-run `python -m bootstrap phase3`; a wrong type must be deleted in Portainer "
                              "first")


@pytest.mark.spec("P3-EDGE-005", severity="high",
                  fix="start the Edge agent (`docker start portainer-edge-agent`) and let it reach Portainer")
@pytest.mark.each("host", stack="edge-agent")
def test_edge_checkin_recent(host, inventory, portainer, on):
    """The worker's Edge agent checked in within twice its check-in interval + 20 s (Portainer's heartbeat)."""
    want, found = edge_environment(portainer, inventory, host, on)
    assert found["Type"] == EDGE, problem(expected="an Edge environment", found=f"type {found['Type']}",
                                          where=want.name, fix="see P3-EDGE-004")
    interval = int(found.get("EdgeCheckinInterval") or CHECKIN_DEFAULT)
    last, now = int(found.get("LastCheckInDate") or 0), int(found.get("QueryDate") or 0)
    limit = 2 * interval + SLACK
    age = now - last if last else None
    fresh = age is not None and age <= limit
    mismatch = None if fresh else edge_id_mismatch(found, agent_edge_id(on, host))
    assert not mismatch, problem(
        expected=f"the agent's EDGE_ID to be the Edge ID Portainer holds, and a check-in within {limit} s",
        found=mismatch, where=f"{portainer.where}, Edge environment {want.name}; container {AGENT} on {host.name}",
        fix="re-run `python -m bootstrap phase3`: it writes the Edge ID Portainer holds into the agent's .env")
    assert fresh, problem(
        expected=f"a check-in within {limit} s (2 x {interval} s + {SLACK} s)",
        found="no check-in ever" if age is None else f"the last one {age} s ago",
        where=f"{portainer.where}, Edge environment {want.name}",
        fix=f"on {host.name}: `docker logs portainer-edge-agent`; is it running, and does it reach "
        f"{edge_poll_url(inventory)} (and verify its certificate)?")


VERIFY_FIX = ("give Portainer a name (services.portainer: fqdn) so agents poll it through NPM with a verified "
              "certificate, and re-run `python -m bootstrap phase3`: it writes EDGE_INSECURE_POLL=0 and the CAs "
              "to trust (homelab-ca.crt)")


@pytest.mark.hardening
@pytest.mark.spec("P3-EDGE-006", severity="high", fix=VERIFY_FIX)
@pytest.mark.each("host", stack="edge-agent")
def test_edge_agent_verifies_portainer(host, inventory, portainer, on):
    """The Edge agent polls Portainer with TLS verification on (EDGE_INSECURE_POLL off), at a URL whose certificate
    verifies against the CAs the agent is given: so nobody on the path can answer its polls as Portainer."""
    want, found = edge_environment(portainer, inventory, host, on)
    container = find_container(on(host).docker, compose_service("edge-agent", AGENT), "edge-agent")
    assert container is not None, problem(expected="the Edge agent container", found="none", where=host.name,
                                          fix=DEPLOY)
    insecure = (env_value(container, "EDGE_INSECURE_POLL") or "0").lower() in ("1", "true")
    where = f"container {AGENT} on {host.name}"
    assert not insecure, problem(expected="EDGE_INSECURE_POLL off (0)",
                                 found="EDGE_INSECURE_POLL on: Portainer's certificate is not verified", where=where,
                                 fix=VERIFY_FIX)
    url = edge_key_url(str(found.get("EdgeKey") or "")) or "(an unreadable Edge key)"
    assert edge_poll_verified(inventory), problem(
        expected="Portainer polled by its name through NPM", found="no name for Portainer: agents poll "
        f"{edge_poll_url(inventory)}, whose self-signed certificate they cannot verify",
        where="inventory.yaml services.portainer", fix=VERIFY_FIX)
    assert url == edge_poll_url(inventory), problem(
        expected=f"polls to {edge_poll_url(inventory)} (Portainer's name through NPM)", found=f"polls to {url}",
        where=f"{portainer.where}, Edge environment {want.name}", fix=VERIFY_FIX)
    name = url.removeprefix("https://")
    npm = service_host(inventory, "npm")
    error = handshake(str(npm.address), name, inventory.settings.ca_bundle, inventory.settings.connect_timeout)
    assert error is None, problem(expected=f"a certificate for {name} that verifies", found=error,
                                  where=f"https://{name} via NPM at {npm.address}:443, as {where} polls it",
                                  fix=VERIFY_FIX)


JOBS_FIX = ("delete each in Portainer (Edge Jobs > select > Remove; or `DELETE /api/edge_jobs/ID`): the homelab plans "
            "no Edge job. Making one takes Portainer's admin: find out who did, and what the script did on the hosts "
            "it reached; if it was not you, rotate Portainer's admin password and API token")


def edge_job(job, portainer) -> str:
    """One Edge job as the failure names it: name, id, schedule, and the environments and Edge groups it runs on."""
    environments = {int(e["Id"]): name for name, e in portainer.environments().items()}
    targets = [environments.get(int(e), f"environment {e}") for e in job.get("Endpoints") or {}]
    if job.get("EdgeGroups"):
        groups = {int(g["Id"]): name for name, g in portainer.edge_groups().items()}
        targets += [f"Edge group {groups.get(int(g), g)}" for g in job["EdgeGroups"]]
    when = "recurring" if job.get("Recurring") else "once"
    return (f"{job.get('Name')!r} (id {job.get('Id')}, cron '{job.get('CronExpression')}' {when}, "
            f"on {', '.join(targets) or 'no environment'})")


@pytest.mark.spec("P3-EDGE-007", severity="critical",
                  fix="delete every Edge job in Portainer (Edge Jobs): the homelab plans none")
@pytest.mark.each("instance", service="portainer")
def test_no_edge_jobs(instance, portainer):
    """Portainer holds no Edge job: nothing has the Edge agents run a script as root on the GPU workers (the homelab
    plans none; one is made by hand, or by someone who got into Portainer)."""
    found = [edge_job(job, portainer) for job in portainer.edge_jobs()]
    assert not found, problem(expected="no Edge jobs (the homelab plans none)",
                              found=f"{len(found)} Edge job(s): {'; '.join(found)}",
                              where=f"{portainer.where}, Edge Jobs", fix=JOBS_FIX)
