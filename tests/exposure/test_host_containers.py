"""Every Docker host runs what the inventory plans for it, as the host's own engine reports it: no stray
container, no unplanned published port, the Docker socket and the host's namespaces only where a service is
allowed them. The compose files say the same statically (tests/static); these specs catch what was started
or changed on the host itself.

No phase marker here: each host's check carries that host's phase (the plugin's `_phased`), so `pytest -m
phase2` checks the agents. A host whose engine cannot be read fails, saying so: an empty list is never taken
for a clean host.
"""

from __future__ import annotations

from typing import Any

import pytest

from homelab.checks import problem
from homelab.checks.containers import Finding, host_access, socket_mounts, unplanned_containers, unplanned_ports
from homelab.model.inventory import Host
from homelab.transport.dockerclient import EngineSnapshot

pytestmark = pytest.mark.exposure

OBSERVE = ("make the engine readable over SSH: the inventory's SSH user in group `docker` (root on Unraid), "
           "dockerd running (`sudo systemctl status docker`), `docker ps -a` working in that login")
REMOVE = ("remove what no stack explains (`docker rm -f NAME` on the host), or list it under inventory.yaml "
          "`hosts.HOST.extra_containers` with a reason; redeploy bootstrap's own with `python -m bootstrap phaseN`")


def observe(on, host: Host) -> list[dict[str, Any]]:
    """The `docker inspect` of every container on `host` (running or not), or the spec fails saying it could
    not observe them. The host-down policy applies first (`on(host).docker`: an on-demand host that is off skips)."""
    __tracebackhide__ = True
    try:
        client = on(host).docker
        found = [dict(c.attrs) for c in client.containers.list(all=True)]
        if not found and isinstance(client, EngineSnapshot):
            # An empty snapshot may be a read that failed quietly (`docker ps` refused, so nothing to inspect):
            # ask the engine itself before calling the host empty.
            found = [dict(c.attrs) for c in client.client.containers.list(all=True)]
    except Exception as exc:  # any failure to read is a failure to observe, never a pass
        pytest.fail(problem(expected="the host's containers, as its Docker engine lists them",
                            found=f"could not observe them: {type(exc).__name__}: {exc}",
                            where=f"the Docker engine of {host.name}", fix=OBSERVE), pytrace=False)
    return found


def expect_none(findings: list[Finding], expected: str, host: Host) -> None:
    """Fail with one expected/found/where/fix line per finding."""
    __tracebackhide__ = True
    if findings:
        pytest.fail("\n".join(problem(expected=expected, found=f.found,
                                      where=f"container {f.container} ({f.image}) on {host.name}", fix=f.fix)
                              for f in findings), pytrace=False)


@pytest.mark.spec("EXP-CTR-001", severity="high", fix=REMOVE)
@pytest.mark.each("host")
def test_only_planned_containers(host, on, inventory):
    """Only the containers of the stacks the inventory assigns to a host run on it (compose project and service
    as bootstrap deploys them), besides the host's `extra_containers`."""
    expect_none(unplanned_containers(inventory, host, observe(on, host)),
                f"only containers of the stacks {', '.join(host.stacks) or '(none)'} and of extra_containers", host)


@pytest.mark.spec("EXP-CTR-002", severity="high",
                  fix="publish only the inventory's ports: redeploy bootstrap's containers with `python -m bootstrap "
                      "phaseN`, recreate or remove any other; plan a wanted port in inventory.yaml first")
@pytest.mark.each("host")
def test_no_unplanned_published_port(host, on, inventory):
    """No container publishes a host port (on an address other than loopback) that the inventory does not plan
    for its service on that host."""
    expect_none(unplanned_ports(inventory, host, observe(on, host)),
                "only the ports the inventory plans for the container's service on this host", host)


@pytest.mark.spec("EXP-CTR-003", severity="critical",
                  fix="mount the Docker socket only into the services whose inventory `docker_socket` allows it "
                      "(`:ro` where it says ro): redeploy with `python -m bootstrap phaseN`, remove any other")
@pytest.mark.each("host")
def test_docker_socket_only_where_allowed(host, on, inventory):
    """The Docker socket (or /run, /var/run) is mounted into a container only where its service's `docker_socket`
    allows it, and read-only where it says ro."""
    expect_none(socket_mounts(inventory, host, observe(on, host)),
                "the Docker socket only where the inventory's docker_socket allows it", host)


@pytest.mark.spec("EXP-CTR-004", severity="critical",
                  fix="run containers unprivileged, in their own PID and network namespaces and without the host's "
                      "/, unless the service's inventory `host_access` allows it: redeploy, or remove the container")
@pytest.mark.each("host")
def test_no_host_access_unless_allowed(host, on, inventory):
    """No container runs privileged, in the host's PID namespace or network, or with the host's / mounted, unless
    its service's `host_access` allows that item."""
    expect_none(host_access(inventory, host, observe(on, host)),
                "nothing of the host's (privileged, pid, network, root) beyond its service's host_access", host)
