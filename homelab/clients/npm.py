"""A typed client for Nginx Proxy Manager's admin API (port 81): tokens, proxy hosts, certificates, access lists.

Every call is bounded by a timeout. NPM answers errors as `{"error": {"code", "message"}}` with a 4xx/5xx
status; those become `NpmError` carrying NPM's message (`NpmAuthError` for bad credentials and refused
tokens). Its schemas reject unknown keys, so requests carry only the fields of the version in use: see
`letsencrypt_request`. Reference: upstream backend/schema/paths/ and backend/lib/error.js.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from homelab.clients.base import HttpClient, StatusError

DEFAULT_TIMEOUT = 15.0
# What NPM compares when it decides whether a proxy host is as planned (the fields we send).
PROXY_FIELDS = ("domain_names", "forward_scheme", "forward_host", "forward_port", "certificate_id", "ssl_forced",
                "http2_support", "block_exploits", "hsts_enabled", "hsts_subdomains", "allow_websocket_upgrade",
                "caching_enabled", "access_list_id", "advanced_config", "enabled")


class NpmError(StatusError):
    """A call failed: NPM said no (its message is in ours), or it could not be reached."""


class NpmUnreachable(NpmError):
    """Nothing answered at the admin API's address, or not in time."""


class NpmAuthError(NpmError):
    """Bad email or password (HTTP 400 on /tokens), or a missing, expired or forged token (401/403)."""


@dataclass(frozen=True)
class Certificate:
    id: int
    provider: str
    nice_name: str
    domain_names: tuple[str, ...]
    expires_on: datetime | None
    meta: dict[str, Any]

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Certificate:
        return cls(id=int(item["id"]), provider=str(item.get("provider", "")),
                   nice_name=str(item.get("nice_name") or ""),
                   domain_names=tuple(str(d).lower() for d in item.get("domain_names") or ()),
                   expires_on=parse_npm_time(item.get("expires_on")), meta=dict(item.get("meta") or {}))

    def days_left(self, now: datetime | None = None) -> float | None:
        if self.expires_on is None:
            return None
        return (self.expires_on - (now or datetime.now(UTC))).total_seconds() / 86400


@dataclass(frozen=True)
class ProxyHost:
    id: int
    domain_names: tuple[str, ...]
    fields: dict[str, Any]  # everything NPM answered, for comparison with a plan

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> ProxyHost:
        return cls(int(item["id"]), tuple(str(d).lower() for d in item.get("domain_names") or ()), dict(item))

    def differences(self, wanted: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """`{field: (live, wanted)}` for each planned field whose live value differs."""
        diff: dict[str, tuple[Any, Any]] = {}
        for key, value in wanted.items():
            live = self.fields.get(key)
            if key == "domain_names":
                live, value = sorted(str(d).lower() for d in live or ()), sorted(value)
            if live != value:
                diff[key] = (live, value)
        return diff


@dataclass(frozen=True)
class AccessList:
    """An access list as NPM answers it with `?expand=items,clients` (create and update always expand them).

    `clients` are (directive, address) in NPM's order; `usernames` are its basic-auth users (NPM never
    returns their passwords). NPM renders the clients, then `deny all;`, into every location of each proxy
    host whose `access_list_id` is this list's id.
    """

    id: int
    name: str
    satisfy_any: bool
    pass_auth: bool
    clients: tuple[tuple[str, str], ...]
    usernames: tuple[str, ...]
    proxy_host_count: int
    fields: dict[str, Any]  # everything NPM answered

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> AccessList:
        clients = tuple((str(c.get("directive", "")), str(c.get("address", ""))) for c in item.get("clients") or ())
        return cls(id=int(item["id"]), name=str(item.get("name", "")), satisfy_any=bool(item.get("satisfy_any")),
                   pass_auth=bool(item.get("pass_auth")), clients=clients,
                   usernames=tuple(str(i.get("username", "")) for i in item.get("items") or ()),
                   proxy_host_count=int(item.get("proxy_host_count") or 0), fields=dict(item))

    def differences(self, wanted: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """`{field: (live, wanted)}` for each field of a planned body (`access_list_body`) that differs.

        Clients compare as sorted sets of (directive, address), so ids and order do not count: exact for
        allow-only lists, where nginx's first-match order cannot change the outcome. Items compare by username
        (NPM never shows a password, so a changed password cannot be seen).
        """
        diff: dict[str, tuple[Any, Any]] = {}
        for key, value in wanted.items():
            live: Any
            if key == "clients":
                live = sorted(set(self.clients))
                value = sorted({(str(c.get("directive", "")), str(c.get("address", ""))) for c in value or ()})
            elif key == "items":
                live, value = sorted(self.usernames), sorted(str(i.get("username", "")) for i in value or ())
            else:
                live = self.fields.get(key)
            if live != value:
                diff[key] = (live, value)
        return diff


def access_list_body(name: str, allow: list[str]) -> dict[str, Any]:
    """The body of `POST`/`PUT /api/nginx/access-lists` letting in only `allow` (addresses or networks).

    No users (`items`), so nginx asks for no password and `satisfy`/`pass_auth` change nothing; NPM appends
    `deny all;` after the clients itself. Every key is sent: NPM changes satisfy_any and pass_auth on update
    only together with a name, and replaces items and clients with what the body lists.
    """
    return {"name": name, "satisfy_any": False, "pass_auth": False, "items": [],
            "clients": [{"address": address, "directive": "allow"} for address in allow]}


def parse_npm_time(value: Any) -> datetime | None:
    """NPM's `expires_on` (`2025-01-07 04:30:17`, UTC; ISO forms accepted too) as an aware datetime."""
    if not value:
        return None
    text = str(value).replace("T", " ").removesuffix("Z").split(".")[0]
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def letsencrypt_request(domains: list[str], dns_provider: str, credentials: str, version: tuple[int, int, int],
                        email: str | None = None, propagation_seconds: int | None = None) -> dict[str, Any]:
    """The body of `POST /api/nginx/certificates` for a Let's Encrypt certificate by DNS challenge.

    NPM up to 2.12 takes the account email and the terms' agreement in `meta`; 2.13+ rejects those keys
    (it uses the requesting user's email) and every schema refuses unknown keys.
    """
    meta: dict[str, Any] = {"dns_challenge": True, "dns_provider": dns_provider,
                            "dns_provider_credentials": credentials}
    if propagation_seconds is not None:
        meta["propagation_seconds"] = propagation_seconds
    if version < (2, 13, 0):
        if not email:
            raise NpmError("NPM before 2.13 needs the Let's Encrypt account email (letsencrypt_email)")
        meta |= {"letsencrypt_email": email, "letsencrypt_agree": True}
    return {"provider": "letsencrypt", "nice_name": domains[0], "domain_names": list(domains), "meta": meta}


class Npm(HttpClient):
    """One admin API, e.g. `Npm("http://198.51.100.10:81")`; `login` before protected calls."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(base_url, timeout, transport)
        self.token = token
        self._reads: dict[str, Any] | None = None  # remembered GET answers (`remember_reads`), else None

    def remember_reads(self) -> None:
        """From now on answer a GET asked before from memory, until any other request (a change) forgets them
        all: bootstrap checks every name against the same lists (certificates, proxy hosts, access lists)."""
        self._reads = {}

    # --- transport ------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request under /api; the decoded JSON answer, or NpmError with NPM's message."""
        if self._reads is None:
            return self._send(method, path, **kwargs)
        if method != "GET":
            self._reads.clear()
            return self._send(method, path, **kwargs)
        key = f"{path} {sorted((kwargs.get('params') or {}).items())}"
        if key not in self._reads:
            self._reads[key] = self._send(method, path, **kwargs)
        return copy.deepcopy(self._reads[key])

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        where = f"NPM at {self.base_url}: {method} /api{path}"
        try:
            answer = self._http.request(method, f"/api{path}", headers=headers, **kwargs)
        except httpx.TimeoutException:
            raise NpmUnreachable(f"{where}: no answer within {self._http.timeout.read}s") from None
        except httpx.HTTPError as exc:
            raise NpmUnreachable(f"{where}: cannot connect ({type(exc).__name__}: {exc})") from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.is_success:
            return body
        message = _error_message(body) or answer.text[:200] or answer.reason_phrase
        error = NpmAuthError if answer.status_code in (401, 403) else NpmError
        raise error(f"{where}: HTTP {answer.status_code}: {message}", answer.status_code)

    # --- health and tokens ----------------------------------------------------------------------------------
    def version(self) -> tuple[int, int, int]:
        """NPM's version from the unauthenticated `GET /api/`."""
        body = self.request("GET", "/")
        v = (body.get("version") or {}) if isinstance(body, dict) else {}
        return int(v.get("major", 0)), int(v.get("minor", 0)), int(v.get("revision", 0))

    def login(self, identity: str, secret: str) -> str:
        """Get a token (valid 1 day) for the admin user and use it for the next calls."""
        try:
            body = self.request("POST", "/tokens", json={"identity": identity, "secret": secret})
        except NpmUnreachable:
            raise
        except NpmError as exc:
            raise NpmAuthError(str(exc), exc.status) from None
        if not isinstance(body, dict) or "token" not in body:
            raise NpmAuthError(f"NPM at {self.base_url}: POST /api/tokens answered no token "
                               "(two-factor authentication on the admin user is not supported)")
        self.token = str(body["token"])
        return self.token

    # --- proxy hosts ----------------------------------------------------------------------------------------
    def proxy_hosts(self) -> list[ProxyHost]:
        return [ProxyHost.from_json(h) for h in self.request("GET", "/nginx/proxy-hosts")]

    def proxy_host_for(self, domain: str) -> ProxyHost | None:
        """The proxy host that serves `domain`, if any (NPM allows each name on one host)."""
        return next((h for h in self.proxy_hosts() if domain.lower() in h.domain_names), None)

    def create_proxy_host(self, body: dict[str, Any]) -> ProxyHost:
        return ProxyHost.from_json(self.request("POST", "/nginx/proxy-hosts", json=body))

    def update_proxy_host(self, host_id: int, body: dict[str, Any]) -> ProxyHost:
        return ProxyHost.from_json(self.request("PUT", f"/nginx/proxy-hosts/{host_id}", json=body))

    def delete_proxy_host(self, host_id: int) -> None:
        self.request("DELETE", f"/nginx/proxy-hosts/{host_id}")

    # --- access lists ---------------------------------------------------------------------------------------
    def access_lists(self) -> list[AccessList]:
        """Every access list, with its clients and users (without the expansion NPM leaves them out)."""
        rows = self.request("GET", "/nginx/access-lists", params={"expand": "items,clients"})
        return [AccessList.from_json(a) for a in rows]

    def create_access_list(self, body: dict[str, Any]) -> AccessList:
        return AccessList.from_json(self.request("POST", "/nginx/access-lists", json=body))

    def update_access_list(self, list_id: int, body: dict[str, Any]) -> AccessList:
        """Change a list; NPM re-renders every proxy host that uses it."""
        return AccessList.from_json(self.request("PUT", f"/nginx/access-lists/{list_id}", json=body))

    def delete_access_list(self, list_id: int) -> None:
        """Delete a list; NPM sets `access_list_id` 0 on the hosts that used it, which opens them to everyone."""
        self.request("DELETE", f"/nginx/access-lists/{list_id}")

    # --- certificates ---------------------------------------------------------------------------------------
    def certificates(self) -> list[Certificate]:
        return [Certificate.from_json(c) for c in self.request("GET", "/nginx/certificates")]

    def create_certificate(self, body: dict[str, Any]) -> Certificate:
        return Certificate.from_json(self.request("POST", "/nginx/certificates", json=body))

    def create_custom_certificate(self, nice_name: str) -> Certificate:
        """An empty custom certificate (`provider: other`); `upload_certificate` fills it."""
        return self.create_certificate({"provider": "other", "nice_name": nice_name})

    def upload_certificate(self, cert_id: int, certificate: bytes, key: bytes,
                           intermediate: bytes | None = None) -> None:
        """Upload PEMs to a custom certificate (again to renew it): multipart certificate + certificate_key."""
        files = {"certificate": ("cert.pem", certificate, "application/x-pem-file"),
                 "certificate_key": ("key.pem", key, "application/x-pem-file")}
        if intermediate:
            files["intermediate_certificate"] = ("chain.pem", intermediate, "application/x-pem-file")
        self.request("POST", f"/nginx/certificates/{cert_id}/upload", files=files)

    def create_letsencrypt_certificate(self, body: dict[str, Any]) -> Certificate:
        """Ask NPM for a Let's Encrypt certificate (a body from `letsencrypt_request`); may take minutes."""
        return Certificate.from_json(self.request("POST", "/nginx/certificates", json=body, timeout=300.0))

    def renew_certificate(self, cert_id: int) -> None:
        self.request("POST", f"/nginx/certificates/{cert_id}/renew", timeout=300.0)

    def delete_certificate(self, cert_id: int) -> None:
        self.request("DELETE", f"/nginx/certificates/{cert_id}")


def _error_message(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
        return str(message) if message else None
    return None
