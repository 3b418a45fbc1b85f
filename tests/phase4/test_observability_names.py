"""Phase 4: the names of Prometheus and Grafana resolve to NPM through Technitium, and NPM serves them over TLS
with a certificate that verifies, proxying to the service.

Connections go to the NPM host's inventory address with the name as SNI (as the phase 1 TLS specs do), so a DNS
fault stays apart from a TLS one.
"""

from __future__ import annotations

import ssl

import httpx
import pytest

from homelab.checks import problem
from homelab.checks.reach import service_host
from homelab.checks.tls import handshake

pytestmark = pytest.mark.phase4

NPM_FIX = ("re-run `python -m bootstrap phase4`: it makes the certificate and the proxy host of every phase-4 name "
           "in NPM (as phase 1 does for its own)")


@pytest.mark.spec("P4-DNS-001", severity="medium",
                  fix="re-run `python -m bootstrap phase1` (Technitium's A records cover every name of the inventory)")
@pytest.mark.each("fqdn", phase=4)
def test_name_resolves_to_npm(fqdn, inventory, resolver):
    """Each phase-4 name (Prometheus, Grafana) resolves through Technitium to the NPM host, which proxies it."""
    import dns.exception
    import dns.resolver

    npm = service_host(inventory, "npm")
    try:
        found = sorted(r.address for r in resolver.resolve(fqdn.name, "A", search=False))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        found = [f"no A record ({type(exc).__name__})"]
    assert found == [str(npm.address)], problem(
        f"{fqdn.name} A {npm.address} (NPM on {npm.name})", ", ".join(found),
        f"Technitium at {', '.join(resolver.nameservers)}", "re-run `python -m bootstrap phase1`")


@pytest.mark.spec("P4-TLS-001", severity="high", fix=NPM_FIX)
@pytest.mark.each("fqdn", phase=4)
def test_name_certificate_verifies(fqdn, inventory):
    """NPM serves each phase-4 name a certificate valid for it, chained to the trusted CA, and not expired."""
    npm = service_host(inventory, "npm")
    error = handshake(str(npm.address), fqdn.name, inventory.settings.ca_bundle, inventory.settings.connect_timeout)
    assert error is None, problem(
        f"a certificate for {fqdn.name} that verifies against {inventory.settings.ca_bundle or 'the system CAs'}",
        error, f"https://{fqdn.name} via NPM at {npm.address}:443", NPM_FIX)


@pytest.mark.spec("P4-TLS-002", severity="medium", fix=NPM_FIX)
@pytest.mark.each("fqdn", phase=4)
def test_name_proxied_to_service(fqdn, inventory):
    """Through NPM (TLS verified), each phase-4 name reaches its service: no 502/504 from the proxy."""
    npm = service_host(inventory, "npm")
    bundle = inventory.settings.ca_bundle
    verify = ssl.create_default_context(cafile=str(bundle)) if bundle else True
    # A client of its own: a pooled connection would carry another name's TLS session (SNI) to NPM.
    with httpx.Client(verify=verify, timeout=inventory.settings.connect_timeout * 3) as client:
        try:
            answer = client.get(f"https://{npm.address}/", headers={"Host": fqdn.name},
                                extensions={"sni_hostname": fqdn.name})
            found, ok = f"HTTP {answer.status_code}", answer.status_code < 500
        except httpx.HTTPError as exc:
            found, ok = f"no answer ({type(exc).__name__}: {exc})", False
    upstream = fqdn.instance.service.upstream
    assert ok, problem(f"the service's own answer (below 500) from {fqdn.instance.host.address}:"
                       f"{upstream.port if upstream else '?'}", found, f"https://{fqdn.name}/ via NPM at "
                       f"{npm.address}:443", f"{NPM_FIX}; check that {fqdn.instance.id} runs")
