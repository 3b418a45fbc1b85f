"""Phase 1 DNS and TLS without a lab: the record and proxy host plans, leaf certificates, API clients' edges."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from spec_project import lab_inventory_in

from bootstrap.phase1 import dns
from bootstrap.services import proxy
from bootstrap.services.apiclients import NpmSession
from homelab.clients.npm import Certificate, Npm, NpmAuthError, NpmError, ProxyHost, letsencrypt_request
from homelab.clients.technitium import Technitium, TechnitiumAuthError, TechnitiumError, acl_list
from homelab.model.certs import Authority, CertError, Leaf, issue_leaf, load_authority
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.model.secrets import Secrets

ROOT = REPO


@pytest.fixture(scope="module")
def example() -> Inventory:
    return load_inventory(ROOT / "inventory.yaml")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    """The inventory `lab up` writes, built from the seed with stand-in host keys (no Docker needed)."""
    return lab_inventory_in(tmp_path_factory.mktemp("lab"))


def plan_of(inventory: Inventory) -> dict[str, str]:
    return {r.name: r.address for r in dns.record_plan(inventory)}


# --- the DNS plan ---------------------------------------------------------------------------------------------
def test_every_host_has_its_own_address(example: Inventory) -> None:
    """Each host's `<hostname>.<domain>` points at the host itself."""
    plan = plan_of(example)
    for host in example.hosts.values():
        assert plan[f"{host.hostname}.home.example.com"] == str(host.address)


def test_service_names_point_at_npm(example: Inventory) -> None:
    """Every service name, `{host}` filled in and of every phase, points at the host running NPM."""
    plan = plan_of(example)
    names = {s.fqdn_for(h) for s, h in example.instances() if s.fqdn}
    assert "ollama-gaming-pc-2.home.example.com" in names
    assert {plan[n] for n in names} == {"198.51.100.10"}
    assert len(plan) == len(names) + len(example.hosts)


def test_lab_plan_uses_lab_addresses(lab: Inventory) -> None:
    """In the lab, names resolve to lab addresses, and gaming-pc-2 (not in the lab) has no record."""
    plan = plan_of(lab)
    assert plan["unraid.home.example.com"] == "198.18.10.20"
    assert plan["portainer.home.example.com"] == "198.18.10.10"
    assert not any("gaming-pc-2" in name for name in plan)


def test_one_name_two_addresses_is_refused(example: Inventory) -> None:
    """A service name equal to another host's name cannot point at two places: the plan says which."""
    clash = dict(example.services)
    clash["node-exporter"] = replace(clash["node-exporter"], fqdn="unraid.home.example.com",
                                     upstream=clash["grafana"].upstream, only_on=("unraid",))
    broken = replace(example, services=clash)
    with pytest.raises(dns.PlanError, match=r"unraid\.home\.example\.com would point at 198\.51\.100\.20"):
        dns.record_plan(broken)


def test_recursion_only_for_lan_and_vpn(example: Inventory, lab: Inventory) -> None:
    """Recursion is allowed to the LAN and VPN networks only: not guest, not WAN."""
    assert dns.recursion_acl(example) == ["198.51.100.0/24", "203.0.113.0/26"]
    assert dns.recursion_acl(lab) == ["198.18.10.0/24", "198.18.20.0/24"]


# --- the proxy plan -------------------------------------------------------------------------------------------
def test_phase1_serves_the_platform_stack(lab: Inventory) -> None:
    """Phase 1 serves Portainer, NPM's admin, Technitium's console and Uptime Kuma; later phases add more."""
    assert [s.fqdn for s in proxy.sites(lab, 1)] == [
        "dns.home.example.com", "npm.home.example.com", "portainer.home.example.com", "status.home.example.com"]
    assert "grafana.home.example.com" in [s.fqdn for s in proxy.sites(lab, 4)]


def test_proxy_host_body(lab: Inventory) -> None:
    """The proxy host forwards to the instance's host and upstream, forces HTTPS, blocks exploits, no HTTP/2."""
    site = next(s for s in proxy.sites(lab, 1) if s.service.name == "portainer")
    body = proxy.proxy_host_body(site, 7)
    assert body["domain_names"] == ["portainer.home.example.com"]
    assert (body["forward_scheme"], body["forward_host"], body["forward_port"]) == ("https", "198.18.10.10", 9443)
    assert body["certificate_id"] == 7
    assert body["ssl_forced"] is True
    assert body["block_exploits"] is True
    assert body["http2_support"] is False
    assert "trust_forwarded_proto" not in body  # NPM before 2.14 rejects it


def test_npm_admin_is_served_from_81(example: Inventory) -> None:
    """npm.<domain> forwards to NPM's own admin on 81, dns.<domain> to Technitium's 5380."""
    bodies = {s.fqdn: proxy.proxy_host_body(s, 1) for s in proxy.sites(example, 1)}
    assert bodies["npm.home.example.com"]["forward_port"] == 81
    assert bodies["dns.home.example.com"]["forward_port"] == 5380


def test_live_host_differences(lab: Inventory) -> None:
    """A live proxy host that differs in one field is reported with live and wanted values."""
    site = proxy.sites(lab, 1)[0]
    wanted = proxy.proxy_host_body(site, 3)
    live = ProxyHost.from_json({"id": 1, **wanted, "forward_port": 80, "meta": {"nginx_online": True}})
    assert live.differences(wanted) == {"forward_port": (80, 5380)}


# --- certificates from a CA of our own ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Authority, Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Throwaway Test CA")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("ca")
    (folder / "root.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "root.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    return load_authority(folder / "root.pem", folder / "root.key"), folder / "root.pem", folder / "root.key"


def test_leaf_names_the_service(ca: tuple[Authority, Path, Path]) -> None:
    """The leaf's SAN is the name alone, its CN too, and it may only serve TLS (serverAuth, not a CA)."""
    cert = x509.load_pem_x509_certificate(issue_leaf(ca[0], "npm.home.example.com").certificate_pem)
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["npm.home.example.com"]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "npm.home.example.com"
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_leaf_chains_to_the_ca_for_90_days(ca: tuple[Authority, Path, Path]) -> None:
    """The leaf is signed by the CA, valid about 90 days, and its key matches it."""
    leaf = issue_leaf(ca[0], "dns.home.example.com")
    cert = x509.load_pem_x509_certificate(leaf.certificate_pem)
    cert.verify_directly_issued_by(ca[0].certificate)
    days = (cert.not_valid_after_utc - datetime.now(UTC)).days
    assert 89 <= days <= 90
    key = serialization.load_pem_private_key(leaf.key_pem, password=None)
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)


def handshake(leaf: Leaf, cafile: Path, name: str, folder: Path) -> str:
    """A TLS handshake over a socket pair: the server presents `leaf`, the client verifies `name` against `cafile`."""
    (folder / "leaf.pem").write_bytes(leaf.certificate_pem)
    (folder / "leaf.key").write_bytes(leaf.key_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(folder / "leaf.pem", folder / "leaf.key")
    client_ctx = ssl.create_default_context(cafile=str(cafile))
    left, right = socket.socketpair()
    with left, right, ThreadPoolExecutor(1) as pool:
        left.settimeout(5)
        right.settimeout(5)
        served = pool.submit(lambda: server_ctx.wrap_socket(right, server_side=True))
        try:
            with client_ctx.wrap_socket(left, server_hostname=name) as tls:
                return str(tls.version())
        finally:
            with contextlib.suppress(ssl.SSLError, OSError):
                served.result(timeout=5).close()


def test_leaf_verifies_with_python_ssl(ca: tuple[Authority, Path, Path], tmp_path: Path) -> None:
    """What the specs do: Python's ssl with the CA as cafile accepts the leaf for its name, and only for it."""
    leaf = issue_leaf(ca[0], "status.home.example.com")
    assert handshake(leaf, ca[1], "status.home.example.com", tmp_path).startswith("TLSv1.")
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(leaf, ca[1], "npm.home.example.com", tmp_path)


def test_ca_key_must_match(ca: tuple[Authority, Path, Path], tmp_path: Path) -> None:
    """A CA key that belongs to another certificate is refused with both paths named."""
    stray = tmp_path / "other.key"
    stray.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(CertError, match="does not belong"):
        load_authority(ca[1], stray)


def test_renewal_window() -> None:
    """A certificate is fresh with more than cert_warn_days left and its own name only."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    cert = Certificate(1, "other", "x", ("npm.home.example.com",), now + timedelta(days=31), {})
    assert proxy.fresh(cert, "npm.home.example.com", 30, now)
    assert not proxy.fresh(cert, "npm.home.example.com", 31, now)
    assert not proxy.fresh(cert, "dns.home.example.com", 30, now)


# --- Let's Encrypt (not reachable from the lab: the payload only) ---------------------------------------------
def test_letsencrypt_payload_212() -> None:
    """NPM 2.12 gets a DNS-challenge request with the account email and the terms agreed in meta."""
    body = letsencrypt_request(["npm.home.example.com"], "cloudflare", "dns_cloudflare_api_token = t0ken",
                               (2, 12, 6), email="me@home.example.com")
    assert body == {"provider": "letsencrypt", "nice_name": "npm.home.example.com",
                    "domain_names": ["npm.home.example.com"],
                    "meta": {"dns_challenge": True, "dns_provider": "cloudflare",
                             "dns_provider_credentials": "dns_cloudflare_api_token = t0ken",
                             "letsencrypt_email": "me@home.example.com", "letsencrypt_agree": True}}


def test_letsencrypt_payload_213_has_no_email() -> None:
    """NPM 2.13+ rejects letsencrypt_email/agree (it uses the user's email): they are left out."""
    meta = letsencrypt_request(["a.home.example.com"], "cloudflare", "x = y", (2, 13, 0))["meta"]
    assert set(meta) == {"dns_challenge", "dns_provider", "dns_provider_credentials"}


def test_cloudflare_token_becomes_certbot_credentials() -> None:
    """A bare Cloudflare API token is written as certbot's credentials line; full lines pass unchanged."""
    assert proxy.dns_credentials("cloudflare", "t0ken") == "dns_cloudflare_api_token = t0ken"
    assert proxy.dns_credentials("route53", "aws_access_key_id = a") == "aws_access_key_id = a"


# --- the API clients' edges (mock transports) -----------------------------------------------------------------
def technitium(answer: dict[str, Any], seen: list[httpx.Request]) -> Technitium:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)
    return Technitium("http://dns.test:5380", token="tok", transport=httpx.MockTransport(handler))


def test_technitium_sends_token_both_ways() -> None:
    """The token goes as Bearer (v15) and as the `token` field (older versions)."""
    seen: list[httpx.Request] = []
    technitium({"status": "ok", "response": {"zones": []}}, seen).zones()
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert b"token=tok" in seen[0].content


def test_technitium_error_carries_its_message() -> None:
    """HTTP 200 with status error raises, carrying Technitium's errorMessage."""
    with pytest.raises(TechnitiumError, match=r"Zone already exists: home\.lan"):
        technitium({"status": "error", "errorMessage": "Zone already exists: home.lan"}, []).create_zone("home.lan")
    with pytest.raises(TechnitiumAuthError, match="Invalid token"):
        technitium({"status": "invalid-token", "errorMessage": "Invalid token or session expired."}, []).settings()


def test_acl_list_accepts_list_or_text() -> None:
    """recursionNetworkACL reads the same whether the server answers a list or a comma string."""
    assert acl_list(["10.0.0.0/8", "!10.0.0.9"]) == acl_list("10.0.0.0/8, !10.0.0.9") == ["10.0.0.0/8", "!10.0.0.9"]
    assert acl_list(None) == acl_list(False) == []


def npm_answering(status: int, body: Any) -> Npm:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=json.dumps(body).encode()))
    return Npm("http://npm.test:81", transport=transport)


def test_npm_bad_login_is_an_auth_error() -> None:
    """NPM's 400 on bad credentials becomes NpmAuthError with NPM's message."""
    with pytest.raises(NpmAuthError, match="Invalid email or password"):
        npm_answering(400, {"error": {"code": 400, "message": "Invalid email or password"}}).login("a@b.c", "x")


def test_npm_error_envelope() -> None:
    """A refused request carries NPM's own message and the HTTP status."""
    with pytest.raises(NpmError, match="is already in use") as caught:
        npm_answering(400, {"error": {"code": 400, "message": "npm.home.example.com is already in use"}}
                      ).create_proxy_host({})
    assert caught.value.status == 400


def test_letsencrypt_body_from_the_inventory(example: Inventory, tmp_path: Path) -> None:
    """The example inventory's issuer asks NPM 2.12 for a Cloudflare DNS challenge with the named secret."""
    secrets = Secrets(example.secrets, tmp_path / ".env",
                      environ={"CLOUDFLARE_API_TOKEN": "cf-t0ken", "NPM_ADMIN_EMAIL": "me@home.example.com"})
    session = NpmSession(example, secrets)
    session.version = (2, 12, 6)
    body = proxy.Certificates(example, secrets, session).letsencrypt_body("npm.home.example.com")
    assert body["meta"]["dns_provider_credentials"] == "dns_cloudflare_api_token = cf-t0ken"
    assert body["meta"]["letsencrypt_email"] == "me@home.example.com"
    assert body["domain_names"] == ["npm.home.example.com"]
