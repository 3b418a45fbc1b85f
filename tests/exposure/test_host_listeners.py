"""What listens on each host, read from the host itself: every socket bound to a non-loopback address is a
port the inventory plans (published by a service, SSH, or one of the host's `daemons`), and none of them
answers the Docker API. This sees what a firewall hides today and one flush would expose.

Read from `/proc/net/{tcp,tcp6,udp,udp6}` (no tool needed on the host); the Docker API is asked on every
listening TCP port from the host itself (`GET /_ping`, plain and TLS; bash's /dev/tcp, plain only, where the
host has no python3).
"""

from __future__ import annotations

import json

import pytest

from homelab.checks import problem
from homelab.checks.exposure import (
    DOCKER_PING_FALLBACK,
    LISTENERS_COMMAND,
    exposed,
    is_docker_api,
    parse_listeners,
    planned_listener,
)
from homelab.transport import httpprobe
from homelab.transport.ssh import quote

pytestmark = pytest.mark.exposure

HAS_PYTHON = "command -v python3 >/dev/null && echo yes || echo no"
LISTEN_FIX = ("stop it, bind it to 127.0.0.1, or plan it in the inventory (a service's `ports:`, or "
              "`hosts.HOST.daemons` for a program of the host) with its exposure")
DOCKER_FIX = ("remove whatever relays the Docker API to TCP (a container with /var/run/docker.sock mounted, or "
              "dockerd's `-H tcp://`/daemon.json `hosts`); Portainer reaches engines through its agents only")


def _listeners(host, on):
    result = on(host).run(LISTENERS_COMMAND)
    try:
        return parse_listeners(result.stdout)
    except ValueError as exc:
        pytest.fail(f"could not observe what listens on {host.name}: {exc} (exit status {result.exit_status}: "
                    f"{result.stderr.strip()[:200]})", pytrace=False)


@pytest.mark.spec("EXP-LISTEN-001", severity="high", fix=LISTEN_FIX)
@pytest.mark.each("host")
@pytest.mark.reads(LISTENERS_COMMAND)
def test_only_planned_listeners(host, inventory, on):
    """Every TCP/UDP socket listening on a non-loopback address of the host is planned by the inventory."""
    found = [item for item in _listeners(host, on) if exposed(item)]
    assert any(item.protocol == "tcp" and item.port == host.ssh.port for item in found), (
        f"could not observe: no listener on {host.name}'s SSH port {host.ssh.port} in /proc/net, though this "
        "check came in over SSH (another network namespace?)")
    stray = [str(item) for item in found if not planned_listener(inventory, host, item)]
    assert not stray, problem(expected="only SSH, the inventory's published ports and its daemons",
                              found=", ".join(stray), where=f"sockets listening on {host.name}", fix=LISTEN_FIX)


@pytest.mark.spec("EXP-DOCKER-001", severity="critical", fix=DOCKER_FIX)
@pytest.mark.each("host")
@pytest.mark.reads(LISTENERS_COMMAND, HAS_PYTHON)
def test_no_port_answers_docker_api(host, on):
    """No TCP port of the host, whatever its number, answers the Docker API (the socket is never exposed)."""
    listeners = [item for item in _listeners(host, on) if item.protocol == "tcp" and exposed(item)]
    wildcard = ("0.0.0.0", "::")  # noqa: S104 - a bind to every address: asked at the host's own
    targets = sorted({(str(host.address) if item.address in wildcard else item.address, item.port)
                      for item in listeners if item.port != host.ssh.port})
    if not targets:
        return
    timeout = 1.0  # asked from the host itself: an answer is immediate; a port that waits (DNS over TCP) waits this
    has_python = on(host).run(HAS_PYTHON).stdout.strip() == "yes"
    docker: list[str] = []
    if has_python:
        requests = [{"key": f"{a}:{p}", "address": a, "port": p, "tls": tls, "path": "/_ping"}
                    for a, p in targets for tls in (False, True)]
        try:
            answers = on(host).run_module(httpprobe, [f"{timeout:g}", json.dumps(requests)], timeout * 4 + 20)
        except RuntimeError as exc:
            pytest.fail(f"could not observe: {exc}", pytrace=False)
        docker = sorted({str(a["key"]) for a in answers if is_docker_api(a)})
    else:
        result = on(host).run(DOCKER_PING_FALLBACK.format(targets=quote(*(f"{a}:{p}" for a, p in targets))))
        lines = result.stdout.split("\n")
        if len([line for line in lines if line.strip()]) < len(targets):
            pytest.fail(f"could not observe the Docker API probe on {host.name}: {result.stderr.strip()[:200]}",
                        pytrace=False)
        docker = [line.split()[0] for line in lines if line.strip() and not line.endswith(" none")]
    assert not docker, problem(expected="no Docker API on any TCP port",
                               found=f"the Docker API answers on {', '.join(docker)}",
                               where=f"{host.name}, asked from the host itself", fix=DOCKER_FIX)
