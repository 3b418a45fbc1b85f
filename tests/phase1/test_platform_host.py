"""Phase 1: the platform VM itself: reachable over SSH with a verified key, the host the inventory names."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.phase1


@pytest.mark.spec("P1-SSH-001", severity="critical",
                  fix="start sshd on the host, and record its key as `ssh.host_key` (ssh-keyscan -t ed25519 HOST)")
@pytest.mark.each("host", role="platform")
def test_ssh_with_verified_host_key(host, on, access):
    """The platform VM answers SSH at its inventory address, with the host key the inventory records."""
    client = on(host).ssh
    assert client.get_transport().is_authenticated()
    # A key that trust_on_first_use accepted and recorded is verified from then on, but the inventory records none.
    problem = access.ssh.host_key_problem(host, f"hosts.{host.name}")
    assert problem is None, f"{host.name} ({host.address}): {problem}"


@pytest.mark.spec("P1-HOST-001", severity="medium",
                  fix="set the VM's hostname (hostnamectl set-hostname NAME) or fix `hostname` in the inventory")
@pytest.mark.each("host", role="platform")
def test_hostname_matches_inventory(host, on):
    """The platform VM calls itself by the hostname the inventory gives it."""
    found = on(host).infra.check_output("hostname -s")
    assert found == host.hostname, (
        f"{host.name} ({host.address}): hostname is {found!r}, the inventory expects {host.hostname!r}")


@pytest.mark.spec("P1-HOST-002", severity="medium",
                  fix="run the platform VM on Debian or Ubuntu, as the inventory says (`os`)")
@pytest.mark.each("host", role="platform")
def test_os_matches_inventory(host, on):
    """The platform VM runs the distribution the inventory names (Debian or Ubuntu)."""
    distribution = on(host).infra.system_info.distribution
    assert distribution == host.os, (
        f"{host.name}: the OS is {distribution!r}, the inventory says {host.os!r}; reinstall or fix `os`")
