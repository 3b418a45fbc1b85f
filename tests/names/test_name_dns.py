"""Every name the inventory gives resolves through Technitium to the NPM host, which proxies it, phase by phase (each
name carries its service's phase)."""

from __future__ import annotations

import pytest

from homelab.checks import problem
from homelab.checks.dns import a_records
from homelab.checks.reach import service_host

RECORDS = "re-run `python -m bootstrap phase1` (Technitium zone and A records), or add the A record in Technitium"


@pytest.mark.spec("NAME-DNS-001", severity="high", fix=RECORDS)
@pytest.mark.each("fqdn")
def test_service_fqdn_resolves_to_npm(fqdn, inventory, resolver):
    """Each service name resolves through Technitium to the NPM host, which proxies it."""
    npm = service_host(inventory, "npm")
    found = a_records(resolver, fqdn.name)
    assert found == [str(npm.address)], problem(
        expected=f"{fqdn.name} A {npm.address} (NPM on {npm.name})", found=found,
        where=f"Technitium at {', '.join(resolver.nameservers)}", fix=RECORDS)
