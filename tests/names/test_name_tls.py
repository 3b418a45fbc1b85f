"""Every name the inventory gives is served by NPM over TLS, phase by phase (each name carries its service's phase):
a certificate valid for the name, TLS 1.2+ only, HTTP redirected to HTTPS, HSTS sent, and the service behind it.
A new service's name is covered without a new spec.

Connections go to the NPM host's inventory address with the name as SNI, so a DNS fault does not hide a
TLS one (DNS has its own spec, NAME-DNS-001).
"""

from __future__ import annotations

import ssl
import warnings

import httpx
import pytest

from homelab.checks import could_not_observe, problem
from homelab.checks.reach import service_host
from homelab.checks.tls import TlsUnobserved, get_by_name, handshake, hsts_max_age, leaf, legacy

pytestmark = pytest.mark.hardening  # and each name's phase (the plugin's _phased)

CERT = ("upload a certificate for the name to NPM (SSL Certificates > Add > Custom; the lab CA, or Let's Encrypt "
        "by DNS challenge) and select it on the proxy host; re-run `python -m bootstrap phase1`")


LEGACY_FIX = ("re-run `python -m bootstrap phase1`: it recreates NPM's container when any name accepts TLS 1.0/1.1, so "
              "NPM's own nginx files (ssl_protocols TLSv1.2 TLSv1.3) are back; never edit them in the container")
HSTS_FIX = "turn on HSTS for the proxy host in NPM (SSL tab; re-run bootstrap for the name's phase)"
PROXY_FIX = "re-run bootstrap for the name's phase (NPM proxy host), and check that the service runs"
HSTS_MIN_AGE = 15_552_000  # 180 days, the shortest max-age worth the name (NPM sends 63072000, two years)


class CertificateExpiresSoon(UserWarning):
    """A certificate is valid, but will expire within settings.cert_warn_days."""


@pytest.mark.spec("NAME-TLS-001", severity="critical", fix=CERT)
@pytest.mark.each("fqdn")
def test_certificate_verifies(fqdn, inventory):
    """NPM serves the name a certificate valid for that name, chained to the trusted CA, and not expired."""
    npm = service_host(inventory, "npm")
    try:
        error = handshake(str(npm.address), fqdn.name, inventory.settings.ca_bundle, inventory.settings.connect_timeout)
    except TlsUnobserved as exc:
        pytest.fail(f"{could_not_observe(str(exc), npm.name, 'this machine, TLS verified')}; fix: make NPM answer "
                    f"TLS on {npm.address}:443 (is its container running on {npm.name}? P1-NPM-* and the exposure "
                    "specs say more)", pytrace=False)
    assert error is None, problem(
        expected=f"a certificate for {fqdn.name} that verifies against "
        f"{inventory.settings.ca_bundle or 'the system CAs'}", found=error,
        where=f"https://{fqdn.name} via NPM at {npm.address}:443", fix=CERT)


@pytest.mark.spec("NAME-TLS-002", severity="high", fix="renew the certificate in NPM (or re-run bootstrap phase 1)")
@pytest.mark.each("fqdn")
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
        expected=f"at least {inventory.settings.cert_min_days} days left", found=f"{cert.days_left:.0f} days",
        where=where, fix="renew the certificate in NPM")
    if cert.days_left < inventory.settings.cert_warn_days:
        warnings.warn(f"{where}: {cert.days_left:.0f} days left, under cert_warn_days "
                      f"({inventory.settings.cert_warn_days}); renew it soon", CertificateExpiresSoon, stacklevel=1)


@pytest.mark.spec("NAME-TLS-003", severity="high",
                  fix=LEGACY_FIX)
@pytest.mark.each("fqdn")
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
    assert accepted is None, problem(expected=f"{version} refused", found=f"{version} {accepted}",
                                     where=f"https://{fqdn.name} via NPM at {npm.address}:443",
                                     fix=LEGACY_FIX)


@pytest.mark.spec("NAME-TLS-004", severity="high",
                  fix="turn on `Force SSL` (ssl_forced) on the NPM proxy host (re-run bootstrap for the name's phase)")
@pytest.mark.each("fqdn")
def test_http_redirects_to_https(fqdn, inventory, http):
    """A plain-HTTP request for the name is redirected to https:// for the same name."""
    npm = service_host(inventory, "npm")
    try:
        answer = http.get(f"http://{npm.address}/", headers={"Host": fqdn.name})
    except httpx.HTTPError as exc:
        why = f"no HTTP answer for {fqdn.name} ({type(exc).__name__}: {exc})"
        pytest.fail(f"{could_not_observe(why, npm.name, f'this machine, plain HTTP to {npm.address}:80')}; fix: make "
                    f"NPM answer on {npm.address}:80 (is its container running on {npm.name}? does its firewall admit "
                    "this network?)", pytrace=False)
    location = answer.headers.get("location", "")
    redirected = answer.status_code in (301, 302, 307, 308) and location.startswith(f"https://{fqdn.name}")
    assert redirected, problem(
        expected=f"a redirect to https://{fqdn.name}/",
        found=f"HTTP {answer.status_code} {location or '(no Location)'}",
        where=f"http://{fqdn.name} via NPM at {npm.address}:80", fix="turn on Force SSL for the proxy host in NPM")


@pytest.mark.spec("NAME-TLS-005", severity="medium", fix=HSTS_FIX)
@pytest.mark.each("fqdn")
def test_hsts_sent(fqdn, inventory, on):
    """Over verified TLS, NPM's answer for the name carries Strict-Transport-Security with a max-age of at least
    180 days, so a browser never falls back to plain HTTP for it. Asked of the service behind NPM, so skipped
    while it is off by design (an on-demand host off: NPM would wait on it)."""
    on.service(fqdn.instance)
    npm = service_host(inventory, "npm")
    answer = _get_by_name(inventory, npm, fqdn.name)
    header = answer.headers.get("strict-transport-security", "")
    age = hsts_max_age(header) or 0
    assert age >= HSTS_MIN_AGE, problem(
        expected=f"Strict-Transport-Security with max-age >= {HSTS_MIN_AGE}",
        found=repr(header) if header else "no such header",
        where=f"https://{fqdn.name}/ via NPM at {npm.address}:443 (HTTP {answer.status_code})", fix=HSTS_FIX)


@pytest.mark.spec("NAME-PROXY-001", severity="medium", fix=PROXY_FIX)
@pytest.mark.each("fqdn")
def test_name_proxied_to_service(fqdn, inventory, on):
    """Through NPM (TLS verified), each name reaches its service: no 502/504 from the proxy. Skipped while the
    service is off by design (its on-demand host off, a worker's GPU stack in gaming mode)."""
    on.service(fqdn.instance)
    npm = service_host(inventory, "npm")
    answer = _get_by_name(inventory, npm, fqdn.name)
    upstream = fqdn.instance.service.upstream
    assert answer.status_code < 500, problem(
        expected="the service's own answer (below 500) from "
        f"{fqdn.instance.host.address}:{upstream.port if upstream else '?'}", found=f"HTTP {answer.status_code}",
        where=f"https://{fqdn.name}/ via NPM at {npm.address}:443", fix=f"{PROXY_FIX}: {fqdn.instance.id}")


def _get_by_name(inventory, npm, name):
    """GET https://NAME/ at NPM's address, the name as SNI and Host, TLS verified; a spec that gets no answer fails
    as could not observe."""
    try:
        return get_by_name(str(npm.address), name, "/", inventory.settings.ca_bundle,
                           inventory.settings.connect_timeout * 3)
    except httpx.HTTPError as exc:
        pytest.fail(could_not_observe(f"no HTTPS answer for {name} ({type(exc).__name__}: {exc})", npm.name,
                                      "this machine, TLS verified") + f"; fix: {CERT} (NAME-TLS-001 says why)",
                    pytrace=False)
