"""Phase 2: the agent port 9001 answers the platform VM and no one else, and the Docker API is not on TCP.

Each spec is parametrized by agent host and by source (`unraid<-wan`: unraid, as seen from wan); all probes of
the run go out in one concurrent sweep per source. A published port bypasses ufw, so only probing proves it.
"""

from __future__ import annotations

import pytest

from homelab.checks import problem
from homelab.checks.engine import DAEMON_JSON, DAEMON_SCRIPT, expect_dockerd_unix_only
from homelab.checks.reach import expect_reach
from homelab.clients.environments import agent_port

pytestmark = pytest.mark.phase2

NO_TCP = (f"remove every tcp:// host from dockerd (`hosts` in {DAEMON_JSON}, `-H tcp://...` in the unit, or "
          "DOCKER_OPTS in /boot/config/docker.cfg on Unraid), then restart Docker: Portainer reaches this host "
          "through its agent")


@pytest.mark.spec("P2-NET-001", severity="critical",
                  fix="re-run `python -m bootstrap phase2`: DOCKER-USER (HOMELAB-DOCKER) admits the platform VM alone "
                      "to 9001; ufw alone does not close a published port")
@pytest.mark.each("host", stack="agent")
@pytest.mark.each("source")
def test_agent_port_platform_only(host, source, inventory, reachability, on):
    """The agent port 9001 answers from the platform VM, and from nowhere else: not this machine, not the other
    hosts, not the VPN, guest or WAN."""
    expect_reach(reachability, on, source, host, agent_port(inventory), "Portainer agent")


@pytest.mark.spec("P2-AGENT-006", severity="critical",
                  fix="run the real agent image with AGENT_SECRET set; never put a proxy without auth in front of it")
@pytest.mark.each("host", stack="agent")
def test_agent_refuses_unsigned(host, inventory, on):
    """The agent refuses a request without Portainer's signature (403), asked from the platform VM."""
    platform = inventory.platform_host
    on(host)  # a host that is down: the host-down policy, not a 5 s wait for curl
    on(platform)
    url = f"https://{host.address}:{agent_port(inventory)}/containers/json"
    # -k: the agent's certificate is self-signed; the check is about the answer, and nothing secret is sent.
    result = on(platform).run(f"curl -sk -o /dev/null -w '%{{http_code}}' --max-time 5 {url}")
    found = result.stdout.strip() or "no answer"
    assert found == "403", problem(
        expected="403 (unsigned request refused)", found="no answer" if found == "000" else found,
        where=f"GET {url} from {platform.name}",
        fix="start the agent (`python -m bootstrap phase2`)" if found in ("000", "no answer")
        else "the service on 9001 is not a Portainer agent refusing unsigned requests: redeploy stacks/agent")


@pytest.mark.spec("P2-DOCKER-001", severity="critical", fix=NO_TCP)
@pytest.mark.each("host", stack="agent")
@pytest.mark.reads(DAEMON_SCRIPT, root=True)
def test_agent_dockerd_not_on_tcp(host, on):
    """dockerd on each agent host is not told to listen on TCP (flags, daemon.json) and holds no TCP listener."""
    expect_dockerd_unix_only(on(host), NO_TCP)


@pytest.mark.spec("P2-DOCKER-002", severity="critical", fix=NO_TCP)
@pytest.mark.each("host", stack="agent")
@pytest.mark.each("source")
@pytest.mark.parametrize("port", [2375, 2376])
def test_agent_docker_api_closed(host, source, port, reachability, on):
    """The Docker API (TCP 2375 and 2376) of each agent host answers from nowhere."""
    expect_reach(reachability, on, source, host, port, "Docker API", allowed=False)
