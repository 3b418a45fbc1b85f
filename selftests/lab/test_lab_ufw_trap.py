"""The trap the specs must catch, reproduced on a lab host: UFW says deny, yet a published port answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lab_helpers import TINY, sh, start_listener, stop_listener

from homelab.model.inventory import Host, Inventory
from homelab.transport.probes import Outcome, Probe, Reachability
from homelab.transport.ssh import SSHPool
from lab.topology import REGISTRY

pytestmark = pytest.mark.lab
HOST = "pve-docker-1"
PUBLISHED, UNPUBLISHED = 9001, 9002  # a container published with -p; a host listener no rule allows


@pytest.fixture(scope="module")
def trapped(tiny_image: Inventory, pool: SSHPool) -> Iterator[Host]:
    """ufw default deny + enabled (SSH allowed), a container published with -p, a listener on the host."""
    host = tiny_image.hosts[HOST]
    if "Status: active" in sh(pool, host, "sudo -n ufw status"):
        pytest.skip(f"{HOST} is not fresh (ufw is active: did bootstrap run?); `lab reset {HOST}` to retry")
    sh(pool, host, f"docker run -d --name ufw-proof -p {PUBLISHED}:8080 {REGISTRY}/{TINY}", timeout=120)
    pid = start_listener(pool, host, UNPUBLISHED)
    sh(pool, host, "sudo -n ufw default deny incoming && sudo -n ufw allow 22/tcp && sudo -n ufw --force enable")
    yield host
    pool.run(host, "sudo -n ufw --force disable && sudo -n ufw --force reset", timeout=60)
    pool.run(host, f"docker rm -f ufw-proof && docker image rm {REGISTRY}/{TINY}", timeout=60)
    stop_listener(pool, host, pid)


def test_ufw_reports_deny(trapped: Host, pool: SSHPool) -> None:
    """`ufw status` alone looks safe: active, default deny incoming."""
    status = sh(pool, trapped, "sudo -n ufw status verbose")
    assert "Status: active" in status
    assert "deny (incoming)" in status


@pytest.mark.parametrize(("port", "expected"), [(PUBLISHED, Outcome.OPEN), (UNPUBLISHED, Outcome.FILTERED)],
                         ids=["published-9001-bypasses-ufw", "unpublished-9002-dropped"])
def test_published_port_bypasses_ufw(trapped: Host, tiny_image: Inventory, pool: SSHPool, port: int,
                                     expected: Outcome) -> None:
    """From the guest network, Docker's published port still answers; the host's own listener does not."""
    reach = Reachability(pool, timeout=tiny_image.settings.probe_timeout)
    outcome = reach.outcome("guest", tiny_image.vantages["guest"], Probe(str(trapped.address), port))
    assert outcome is expected
