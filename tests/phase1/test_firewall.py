"""Phase 1: the platform VM's host firewall is on and denies by default.

ufw's own view is necessary, not sufficient: published Docker ports bypass it. The probes in
test_exposure.py and test_docker_engine.py prove who can really connect, and explain where they disagree.
"""

from __future__ import annotations

import pytest

from homelab.checks.ufw import UFW_STATUS, expect_default_deny

pytestmark = pytest.mark.phase1


@pytest.mark.spec("P1-FW-001", severity="critical",
                  fix="`sudo ufw default deny incoming && sudo ufw enable` (re-run `python -m bootstrap phase1`)")
@pytest.mark.each("host", role="platform")
@pytest.mark.reads(UFW_STATUS, root=True)
def test_ufw_active_default_deny(host, on, reachability):
    """ufw is active on the platform VM with the default policy `deny (incoming)`."""
    on(host)
    expect_default_deny(lambda: reachability.ufw(host), host)
