"""Phase 1: every phase-1 service name is served by NPM over TLS with a valid certificate, TLS 1.2+ only.

Connections go to the NPM host's inventory address with the name as SNI, so a DNS fault does not hide a
TLS one (DNS has its own specs).
"""

from __future__ import annotations

import ssl
import warnings

import pytest

from homelab.checks import could_not_observe, problem
from homelab.checks.reach import service_host
from homelab.checks.tls import TlsUnobserved, handshake, leaf, legacy

pytestmark = pytest.mark.phase1

CERT = ("upload a certificate for the name to NPM (SSL Certificates > Add > Custom; the lab CA, or Let's Encrypt "
        "by DNS challenge) and select it on the proxy host; re-run `python -m bootstrap phase1`")


class CertificateExpiresSoon(UserWarning):
    """A certificate is valid, but will expire within settings.cert_warn_days."""


@pytest.mark.spec("P1-TLS-001", severity="critical", fix=CERT)
@pytest.mark.each("fqdn", phase=1)
def test_certificate_verifies(fqdn, inventory):
    """NPM serves the name a certificate valid for that name, chained to the trusted CA, and not expired."""
    npm = service_host(inventory, "npm")
    error = handshake(str(npm.address), fqdn.name, inventory.settings.ca_bundle, inventory.settings.connect_timeout)
    assert error is None, problem(
        f"a certificate for {fqdn.name} that verifies against {inventory.settings.ca_bundle or 'the system CAs'}",
        error, f"https://{fqdn.name} via NPM at {npm.address}:443", CERT)


@pytest.mark.spec("P1-TLS-002", severity="high", fix="renew the certificate in NPM (or re-run bootstrap phase 1)")
@pytest.mark.each("fqdn", phase=1)
def test_certificate_not_expiring(fqdn, inventory):
    """The certificate is at least settings.cert_min_days from expiry (a warning under cert_warn_days)."""
    npm = service_host(inventory, "npm")
    source = f"a TLS handshake from this machine to {npm.address}:443 with SNI {fqdn.name}"
    try:
        cert = leaf(str(npm.address), fqdn.name, inventory.settings.connect_timeout)
    except TlsUnobserved as exc:
        pytest.fail(could_not_observe(str(exc), npm.name, source), pytrace=False)
    if not cert.covers(fqdn.name):
        why = (f"the certificate served is for {', '.join(cert.names) or 'no DNS name'} (issuer {cert.issuer}), not "
               f"{fqdn.name}: its expiry says nothing about {fqdn.name}'s")
        pytest.fail(f"{could_not_observe(why, npm.name, source)}; fix: {CERT}", pytrace=False)
    where = f"https://{fqdn.name} via NPM at {npm.address}:443 (expires {cert.not_after:%Y-%m-%d})"
    assert cert.days_left >= inventory.settings.cert_min_days, problem(
        f"at least {inventory.settings.cert_min_days} days left", f"{cert.days_left:.0f} days", where,
        "renew the certificate in NPM")
    if cert.days_left < inventory.settings.cert_warn_days:
        warnings.warn(f"{where}: {cert.days_left:.0f} days left, under cert_warn_days "
                      f"({inventory.settings.cert_warn_days}); renew it soon", CertificateExpiresSoon, stacklevel=1)


@pytest.mark.spec("P1-TLS-003", severity="high",
                  fix="allow TLS 1.2 and 1.3 only in NPM (ssl_protocols TLSv1.2 TLSv1.3)")
@pytest.mark.each("fqdn", phase=1)
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_legacy_tls_refused(fqdn, version, inventory):
    """NPM refuses TLS 1.0 and 1.1 handshakes (a TLS alert from the server), while completing TLS 1.2+.

    A reset, a timeout or no TLS at all is "could not observe", never a refusal."""
    npm = service_host(inventory, "npm")
    try:
        accepted = legacy(str(npm.address), fqdn.name, ssl.TLSVersion[version], inventory.settings.connect_timeout)
    except TlsUnobserved as exc:
        pytest.fail(could_not_observe(str(exc), npm.name, f"this machine, offering {version} only with SNI "
                                      f"{fqdn.name}"), pytrace=False)
    assert accepted is None, problem(f"{version} refused", f"{version} {accepted}",
                                     f"https://{fqdn.name} via NPM at {npm.address}:443",
                                     "ssl_protocols TLSv1.2 TLSv1.3 in NPM's nginx")


@pytest.mark.spec("P1-TLS-004", severity="high",
                  fix="turn on `Force SSL` (ssl_forced) on the NPM proxy host (re-run `python -m bootstrap phase1`)")
@pytest.mark.each("fqdn", phase=1)
def test_http_redirects_to_https(fqdn, inventory, http):
    """A plain-HTTP request for the name is redirected to https:// for the same name."""
    npm = service_host(inventory, "npm")
    answer = http.get(f"http://{npm.address}/", headers={"Host": fqdn.name})
    location = answer.headers.get("location", "")
    redirected = answer.status_code in (301, 302, 307, 308) and location.startswith(f"https://{fqdn.name}")
    assert redirected, problem(
        f"a redirect to https://{fqdn.name}/", f"HTTP {answer.status_code} {location or '(no Location)'}",
        f"http://{fqdn.name} via NPM at {npm.address}:80", "turn on Force SSL for the proxy host in NPM")
