"""Phase 1: the platform VM's Docker engine runs, has compose v2, and never listens on TCP."""

from __future__ import annotations

import pytest

from homelab.checks import problem
from homelab.checks.engine import DAEMON_JSON, DAEMON_SCRIPT, expect_dockerd_unix_only
from homelab.checks.reach import expect_reach

pytestmark = pytest.mark.phase1

NO_TCP = (f"remove every tcp:// host from dockerd: `hosts` in {DAEMON_JSON}, `-H tcp://...` in the unit or "
          "/etc/default/docker; then `sudo systemctl restart docker`. Manage remote engines with the Portainer agent")


ENGINE_VERSION = "docker version --format '{{.Server.Version}}'"
COMPOSE_VERSION = "docker compose version --short"


@pytest.mark.spec("P1-DOCKER-001", severity="critical",
                  fix="install Docker Engine and the compose v2 plugin (apt install docker-ce docker-compose-plugin)")
@pytest.mark.each("host", role="platform")
@pytest.mark.reads(ENGINE_VERSION, COMPOSE_VERSION)
def test_engine_up_with_compose_v2(host, on):
    """The platform VM's Docker engine answers, and `docker compose` (v2) is installed."""
    shell = on(host).infra
    engine = shell.run(ENGINE_VERSION)
    compose = shell.run(COMPOSE_VERSION)
    found = f"engine: {engine.stdout.strip() or engine.stderr.strip()}; compose: " \
            f"{compose.stdout.strip() or compose.stderr.strip()}"
    ok = engine.rc == 0 and compose.rc == 0 and compose.stdout.strip().lstrip("v")[:1] == "2"
    assert ok, problem(
        expected="a running engine and docker compose 2.x", found=found, where=host.name,
        fix="start dockerd (`sudo systemctl enable --now docker`) and install the docker compose v2 plugin")


@pytest.mark.spec("P1-DOCKER-002", severity="critical", fix=NO_TCP)
@pytest.mark.each("host", role="platform")
@pytest.mark.reads(DAEMON_SCRIPT, root=True)
def test_dockerd_not_configured_for_tcp(host, on):
    """dockerd is not told to listen on TCP (-H flags, daemon.json `hosts`) and holds no listening TCP socket."""
    expect_dockerd_unix_only(on(host), NO_TCP)


@pytest.mark.spec("P1-DOCKER-003", severity="critical", fix=NO_TCP)
@pytest.mark.each("source")
@pytest.mark.parametrize("port", [2375, 2376])
def test_docker_api_closed(source, port, inventory, reachability, on):
    """The Docker API (TCP 2375 and 2376) answers from nowhere: not the LAN, a host, the VPN, guest or WAN."""
    expect_reach(reachability, on, source, inventory.platform_host, port, "Docker API", allowed=False)
