"""TLS: NPM on the platform host serves every service name over HTTPS, with a certificate each (phase 1, and
phases 3 and 4 again for the names they bring).

For each service instance with an fqdn whose phase is at most the one applied (phase 1: Portainer, NPM's
own admin, Technitium's console, Uptime Kuma), two steps, each checked against NPM's API:
1. a certificate for the name. Issuer `ca` (the lab): a leaf signed here by tls.ca_cert/ca_key (90 days,
   SAN = the name, serverAuth), uploaded as a custom certificate; renewed (uploaded again) when fewer than
   settings.cert_warn_days are left, when its name differs, or when another CA signed it (the CA's
   fingerprint is part of its nice_name). Issuer `letsencrypt`: NPM gets it by DNS challenge with the
   credentials of tls.dns_credentials_secret, and renews it when it is close to expiry;
2. a proxy host for the name: forward to the instance's host and upstream port, that certificate,
   HTTP → HTTPS forced, websockets allowed, HTTP/2 off, common exploits blocked, and (unless the service is
   public) the access list of its exposure. Found by domain name: updated in place, never duplicated.
Before them, one access list per exposure the names use (`homelab lan`, `homelab vpn`): allow exactly that
exposure's networks, NPM denies the rest. It is what keeps a private name private when NPM's 443 answers
(a public name forwarded by the router, or a firewall that slipped): nginx routes by Host, not by SNI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bootstrap.services import npmtls
from bootstrap.services.apiclients import NpmSession, applied, checked
from bootstrap.steps import Step, StepFailed
from homelab.clients.npm import AccessList, Certificate, Npm, NpmError, access_list_body, letsencrypt_request
from homelab.model.certs import Authority, CertError, issue_leaf, load_authority
from homelab.model.inventory import Host, Inventory, Service, TlsIssuer
from homelab.model.policy import allowed_networks
from homelab.model.secrets import Secrets
from homelab.transport.ssh import SSHPool

CA_TAG = "homelab-ca"


@dataclass(frozen=True)
class Site:
    fqdn: str
    service: Service
    host: Host


def sites(inventory: Inventory, phase: int) -> list[Site]:
    """The names NPM serves once `phase` is applied, sorted."""
    found = [Site(fqdn.lower(), s, h) for s, h in inventory.instances()
             if s.phase <= phase and s.upstream is not None and (fqdn := s.fqdn_for(h))]
    return sorted(found, key=lambda site: site.fqdn)


def access_list_name(exposure: str) -> str:
    return f"homelab {exposure}"


def access_list_plan(inventory: Inventory, exposure: str) -> dict[str, Any]:
    """The access list every name of `exposure` carries: its networks allowed, everyone else denied."""
    networks = allowed_networks(inventory, exposure) or []
    return access_list_body(access_list_name(exposure), [str(n) for n in networks])


def find_access_list(npm: Npm, exposure: str) -> AccessList | None:
    return next((a for a in npm.access_lists() if a.name == access_list_name(exposure)), None)


def proxy_host_body(site: Site, certificate_id: int, access_list_id: int = 0) -> dict[str, Any]:
    """The proxy host NPM must hold for `site` (only fields every NPM version accepts)."""
    assert site.service.upstream is not None
    return {
        "domain_names": [site.fqdn], "forward_scheme": site.service.upstream.scheme,
        "forward_host": str(site.host.address), "forward_port": site.service.upstream.port,
        "certificate_id": certificate_id, "ssl_forced": True, "http2_support": False, "block_exploits": True,
        "hsts_enabled": True, "hsts_subdomains": False, "allow_websocket_upgrade": True,
        "caching_enabled": False, "access_list_id": access_list_id, "advanced_config": "", "enabled": True,
    }


def ca_nice_name(fqdn: str, ca_fingerprint: str) -> str:
    return f"{fqdn} ({CA_TAG} {ca_fingerprint[:16]})"


def dns_credentials(provider: str, value: str) -> str:
    """certbot's credentials file for the DNS plugin; a bare Cloudflare API token is wrapped for it."""
    if "=" in value:
        return value
    if provider == "cloudflare":
        return f"dns_cloudflare_api_token = {value}"
    raise StepFailed(f"the {provider} DNS credentials must be certbot's `key = value` lines for that plugin "
                     "(as NPM shows them when you pick the provider)")


def fresh(cert: Certificate, fqdn: str, warn_days: int, now: datetime | None = None) -> bool:
    left = cert.days_left(now)
    return cert.domain_names == (fqdn,) and left is not None and left > warn_days


class Certificates:
    """Finds and makes the certificate of a name, for the inventory's issuer."""

    def __init__(self, inventory: Inventory, secrets: Secrets, api: NpmSession) -> None:
        self._tls = inventory.tls
        self.issuer = inventory.tls.issuer if inventory.tls else "none"
        self.secrets = secrets
        self.api = api
        self.warn_days = inventory.settings.cert_warn_days
        self._ca: Authority | None = None

    @property
    def tls(self) -> TlsIssuer:
        if self._tls is None:
            raise StepFailed("the inventory has no `tls:` section; expected {issuer: letsencrypt, dns_provider: ...} "
                             "or {issuer: ca, ca_cert: ..., ca_key: ...} (docs/inventory.md)")
        return self._tls

    def ca(self) -> Authority:
        if self._ca is None:
            assert self.tls.ca_cert is not None
            assert self.tls.ca_key is not None
            try:
                self._ca = load_authority(self.tls.ca_cert, self.tls.ca_key)
            except CertError as exc:
                raise StepFailed(str(exc)) from None
        return self._ca

    def current(self, npm: Npm, fqdn: str) -> Certificate | None:
        """The certificate bootstrap keeps for `fqdn`, whatever its state."""
        if self.tls.issuer == "ca":
            name = ca_nice_name(fqdn, self.ca().fingerprint)
            return next((c for c in npm.certificates() if c.provider == "other" and c.nice_name == name), None)
        return next((c for c in npm.certificates() if c.provider == "letsencrypt" and fqdn in c.domain_names), None)

    def stale(self, npm: Npm, fqdn: str, keep: int) -> list[Certificate]:
        """Custom certificates bootstrap made for `fqdn` under another CA: replaced by certificate `keep`."""
        prefix = f"{fqdn} ({CA_TAG} "
        return [c for c in npm.certificates() if c.provider == "other" and c.nice_name.startswith(prefix)
                and c.id != keep]

    def done(self, fqdn: str) -> bool:
        cert = self.current(self.api.get(wait=False), fqdn)
        return cert is not None and fresh(cert, fqdn, self.warn_days)

    def make(self, fqdn: str) -> None:
        npm = self.api.get(wait=True)
        cert = self.current(npm, fqdn)
        if self.tls.issuer == "ca":
            if cert is None:
                cert = npm.create_custom_certificate(ca_nice_name(fqdn, self.ca().fingerprint))
            leaf = issue_leaf(self.ca(), fqdn)
            npm.upload_certificate(cert.id, leaf.certificate_pem, leaf.key_pem)
        elif cert is not None:
            npm.renew_certificate(cert.id)
        else:
            npm.create_letsencrypt_certificate(self.letsencrypt_body(fqdn))

    def letsencrypt_body(self, fqdn: str) -> dict[str, Any]:
        provider = self.tls.dns_provider or "cloudflare"
        secret = self.tls.dns_credentials_secret or "CLOUDFLARE_API_TOKEN"
        credentials = dns_credentials(provider, self.secrets.get(secret))
        email = self.secrets.get("NPM_ADMIN_EMAIL") if self.api.version < (2, 13, 0) else None
        return letsencrypt_request([fqdn], provider, credentials, self.api.version, email=email)


def steps(inventory: Inventory, secrets: Secrets, pool: SSHPool | None = None, phase: int = 1) -> list[Step]:
    """The TLS and proxy steps for every name served once `phase` is applied; with `pool`, NPM's TLS versions
    too (bootstrap.services.npmtls)."""
    api = NpmSession(inventory, secrets)
    certs = Certificates(inventory, secrets, api)
    target = f"{inventory.platform_host.name}/npm"
    found = sites(inventory, phase)
    exposures = sorted({s.service.exposure for s in found if s.service.exposure != "public"})
    versions = npmtls.steps(inventory, secrets, pool, [site.fqdn for site in found]) if pool and found else []
    return ([_access_list_step(inventory, api, exposure, target) for exposure in exposures]
            + [step for site in found for step in _site_steps(site, api, certs, target)] + versions)


def _access_list_step(inventory: Inventory, api: NpmSession, exposure: str, target: str) -> Step:
    plan = access_list_plan(inventory, exposure)

    def done() -> bool:
        found = find_access_list(api.get(wait=False), exposure)
        return found is not None and not found.differences(plan)

    def apply() -> None:
        npm = api.get(wait=True)
        found = find_access_list(npm, exposure)
        if found is None:
            npm.create_access_list(plan)
        else:
            npm.update_access_list(found.id, plan)

    allow = ", ".join(c["address"] for c in plan["clients"])
    return Step(f"access list {plan['name']}: allow {allow}, deny all", target, checked(done), applied(apply))


def _planned_body(npm: Npm, site: Site, certificate_id: int) -> dict[str, Any]:
    """The proxy host's planned body, with the id of its exposure's access list (0 for a public name)."""
    if site.service.exposure == "public":
        return proxy_host_body(site, certificate_id)
    access_list = find_access_list(npm, site.service.exposure)
    if access_list is None:
        raise StepFailed(f"NPM holds no access list {access_list_name(site.service.exposure)!r}; the access-list "
                         "step before this one should have made it")
    return proxy_host_body(site, certificate_id, access_list.id)


def _site_steps(site: Site, api: NpmSession, certs: Certificates, target: str) -> list[Step]:
    def cert_done() -> bool:
        return certs.done(site.fqdn)

    def cert_make() -> None:
        certs.make(site.fqdn)

    def proxy_done() -> bool:
        return _proxy_done(api, certs, site)

    def proxy_apply() -> None:
        _proxy_apply(api, certs, site)

    return [Step(f"certificate for {site.fqdn} ({certs.issuer})", target, checked(cert_done), applied(cert_make)),
            Step(f"proxy host {site.fqdn} -> {_upstream(site)}", target, checked(proxy_done), applied(proxy_apply))]


def _upstream(site: Site) -> str:
    assert site.service.upstream is not None
    return f"{site.service.upstream.scheme}://{site.host.address}:{site.service.upstream.port}"


def _proxy_done(api: NpmSession, certs: Certificates, site: Site) -> bool:
    npm = api.get(wait=False)
    cert = certs.current(npm, site.fqdn)
    host = npm.proxy_host_for(site.fqdn)
    if cert is None or host is None:
        return False
    if site.service.exposure != "public" and find_access_list(npm, site.service.exposure) is None:
        return False
    return not host.differences(_planned_body(npm, site, cert.id))


def _proxy_apply(api: NpmSession, certs: Certificates, site: Site) -> None:
    npm = api.get(wait=True)
    cert = certs.current(npm, site.fqdn)
    if cert is None:
        raise StepFailed(f"NPM holds no certificate for {site.fqdn}; the certificate step before this one should "
                         "have made it")
    body = _planned_body(npm, site, cert.id)
    host = npm.proxy_host_for(site.fqdn)
    if host is None:
        try:
            npm.create_proxy_host(body)
        except NpmError as exc:  # made meanwhile (another run): update it instead of failing
            host = npm.proxy_host_for(site.fqdn) if exc.status == 400 else None
            if host is None:
                raise
    if host is not None:
        npm.update_proxy_host(host.id, body)
    if certs.issuer == "ca":
        in_use = {h.fields.get("certificate_id") for h in npm.proxy_hosts()}
        for old in certs.stale(npm, site.fqdn, cert.id):
            if old.id not in in_use:
                npm.delete_certificate(old.id)

