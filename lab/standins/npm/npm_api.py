"""NPM's admin API on port 81: health, tokens, users, proxy hosts, certificates, access lists.

Longer than 300 lines because it is one route table over one store: each route keeps upstream's status codes and
error bodies (backend/routes/*.js at 2.12.6) beside its handler, so that a difference from upstream shows here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import npm_schema as schema
from npm_auth import Tokens
from npm_certs import SSL_FILES, expires_on, parse_multipart, validate_files, write_custom
from npm_nginx import Access, Nginx, apr1
from npm_store import ApiError, Row, Store, not_found

LE_REFUSED = ("Let's Encrypt cannot be reached from the lab: upload a certificate signed by the lab CA instead "
              "(provider \"other\", then POST /api/nginx/certificates/{id}/upload)")
HOST_DEFAULTS: Row = {"certificate_id": 0, "ssl_forced": False, "hsts_enabled": False, "hsts_subdomains": False,
                      "http2_support": False, "block_exploits": False, "caching_enabled": False,
                      "allow_websocket_upgrade": False, "access_list_id": 0, "advanced_config": "", "enabled": True,
                      "meta": {}, "locations": []}


def clean_ssl_hsts(data: Row) -> Row:
    """backend/internal/host.js cleanSslHstsData, applied to the host as it will be stored: no certificate
    turns off ssl_forced and http2_support, no ssl_forced turns off hsts_enabled, no hsts_enabled turns off
    hsts_subdomains."""
    data = dict(data)
    if not data.get("certificate_id"):
        data["ssl_forced"] = data["http2_support"] = False
    if not data.get("ssl_forced"):
        data["hsts_enabled"] = False
    if not data.get("hsts_enabled"):
        data["hsts_subdomains"] = False
    return data


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    user: Row | None = None
    match: re.Match[str] | None = None

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as exc:
            raise ApiError(400, f"Unexpected token in JSON: {exc}") from exc

    def id(self) -> int:
        assert self.match is not None
        return int(self.match.group(1))

    def expand(self) -> set[str]:
        return set(filter(None, self.query.get("expand", "").split(",")))


Handler = Callable[[Request], tuple[int, Any]]


@dataclass
class Api:
    store: Store
    tokens: Tokens
    nginx: Nginx
    data_dir: Path
    version: tuple[int, int, int]
    routes: list[tuple[str, re.Pattern[str], Handler, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        hosts, certs, lists = r"/api/nginx/proxy-hosts", r"/api/nginx/certificates", r"/api/nginx/access-lists"
        table: list[tuple[str, str, Handler, bool]] = [
            ("GET", r"/api/?", self.health, False),
            ("POST", r"/api/tokens", self.token_create, False),
            ("GET", r"/api/tokens", self.token_refresh, True),
            ("GET", r"/api/users", self.users_list, True),
            ("POST", r"/api/users", self.user_create, False),
            ("GET", r"/api/users/(me|\d+)", self.user_get, True),
            ("PUT", r"/api/users/(me|\d+)/auth", self.user_password, True),
            ("GET", r"/api/settings", self.settings, True),
            ("GET", r"/api/reports/hosts", self.report, True),
            ("GET", hosts, self.hosts_list, True), ("POST", hosts, self.host_create, True),
            ("GET", hosts + r"/(\d+)", self.host_get, True), ("PUT", hosts + r"/(\d+)", self.host_update, True),
            ("DELETE", hosts + r"/(\d+)", self.host_delete, True),
            ("POST", hosts + r"/(\d+)/enable", self.host_enable, True),
            ("POST", hosts + r"/(\d+)/disable", self.host_disable, True),
            ("GET", certs, self.certs_list, True), ("POST", certs, self.cert_create, True),
            ("POST", certs + r"/validate", self.cert_validate, True),
            ("GET", certs + r"/(\d+)", self.cert_get, True), ("DELETE", certs + r"/(\d+)", self.cert_delete, True),
            ("POST", certs + r"/(\d+)/upload", self.cert_upload, True),
            ("POST", certs + r"/(\d+)/renew", self.cert_renew, True),
            ("GET", lists, self.lists_list, True), ("POST", lists, self.list_create, True),
            ("GET", lists + r"/(\d+)", self.list_get, True), ("PUT", lists + r"/(\d+)", self.list_update, True),
            ("DELETE", lists + r"/(\d+)", self.list_delete, True),
        ]
        self.routes = [(method, re.compile(pattern + "$"), handler, auth) for method, pattern, handler, auth in table]

    def handle(self, request: Request) -> tuple[int, Any]:
        for method, pattern, handler, auth in self.routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                request.match = match
                if auth:
                    request.user = self.authenticate(request)
                return handler(request)
        raise not_found(request.path)

    def authenticate(self, request: Request) -> Row:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise ApiError(403, "Permission Denied")
        claims = self.tokens.verify(header[7:].strip())
        try:
            return self.store.get("users", int(claims["attrs"]["id"]))
        except (ApiError, KeyError, TypeError, ValueError) as exc:
            raise ApiError(403, "Permission Denied") from exc

    # --- health, tokens, users --------------------------------------------------------------------------------
    def health(self, request: Request) -> tuple[int, Any]:
        major, minor, revision = self.version
        body: Row = {"status": "OK"}
        if self.version >= (2, 13, 0):
            body["setup"] = bool(self.store.rows("users"))
        return 200, body | {"version": {"major": major, "minor": minor, "revision": revision}}

    def token_create(self, request: Request) -> tuple[int, Any]:
        body = request.json()
        schema.validate(body, schema.TOKEN, ("identity", "secret"))
        user = self.store.user_by_login(body["identity"], body["secret"])
        if user is None:  # backend/internal/token.js: error.AuthError, status 401 (backend/lib/error.js)
            raise ApiError(401, "Invalid email or password")
        return 200, self.tokens.issue(user["id"])

    def token_refresh(self, request: Request) -> tuple[int, Any]:
        assert request.user is not None
        return 200, self.tokens.issue(request.user["id"])

    def users_list(self, request: Request) -> tuple[int, Any]:
        return 200, self.store.rows("users")

    def user_get(self, request: Request) -> tuple[int, Any]:
        assert request.user is not None
        assert request.match is not None
        target = request.match.group(1)
        return 200, request.user if target == "me" else self.store.get("users", int(target))

    def user_create(self, request: Request) -> tuple[int, Any]:
        """Setup mode (2.13+): unauthenticated while no user exists; otherwise an admin creates users."""
        if self.store.rows("users"):
            request.user = self.authenticate(request)
        body = request.json()
        if not isinstance(body, dict) or not body.get("email") or not body.get("name"):
            raise ApiError(400, "data should have required property 'email'")
        secret = (body.get("auth") or {}).get("secret") or ""
        if len(secret) < 8 and not self.store.rows("users"):
            raise ApiError(400, "data.auth.secret should NOT be shorter than 8 characters")
        user = self.store.add_user(body["email"], secret, body["name"])
        return 201, self.store.update("users", user["id"], {"nickname": body.get("nickname") or user["nickname"],
                                                            "is_disabled": bool(body.get("is_disabled", False))})

    def user_password(self, request: Request) -> tuple[int, Any]:
        assert request.user is not None
        assert request.match is not None
        body = request.json()
        if not isinstance(body, dict) or body.get("type") != "password" or not body.get("secret"):
            raise ApiError(400, "data should have required property 'secret'")
        target = request.user["id"] if request.match.group(1) == "me" else int(request.match.group(1))
        user = self.store.get("users", target)
        if target == request.user["id"] and self.store.user_by_login(user["email"], body.get("current", "")) is None:
            raise ApiError(400, "Invalid current password")
        self.store.set_password(target, body["secret"])
        return 200, True

    def settings(self, request: Request) -> tuple[int, Any]:
        return 200, [{"id": "default-site", "name": "Default Site", "value": "404", "meta": {},
                      "description": "What to show when Nginx is hit with an unknown Host"}]

    def report(self, request: Request) -> tuple[int, Any]:
        return 200, {"proxy": len(self.store.rows("proxy_hosts")), "redirection": 0, "stream": 0, "dead": 0}

    # --- proxy hosts ------------------------------------------------------------------------------------------
    def _expand_host(self, host: Row, expand: set[str]) -> Row:
        shown = dict(host)
        if "owner" in expand:
            shown["owner"] = self._owner(host)
        if "certificate" in expand:
            cert_id = host["certificate_id"]
            shown["certificate"] = self._public_cert(self.store.get("certificates", cert_id)) if cert_id else None
        if "access_list" in expand:
            list_id = host["access_list_id"]
            shown["access_list"] = self._public_list(self.store.get("access_lists", list_id)) if list_id else None
        return shown

    def _owner(self, row: Row) -> Row | None:
        try:
            return self.store.get("users", row["owner_user_id"])
        except ApiError:
            return None

    def _check_host(self, body: Row, host_id: int | None) -> None:
        if body.get("certificate_id") == "new":
            raise ApiError(400, LE_REFUSED)
        if body.get("certificate_id"):
            self.store.get("certificates", int(body["certificate_id"]))
        if body.get("access_list_id"):
            self.store.get("access_lists", int(body["access_list_id"]))
        for other in self.store.rows("proxy_hosts"):
            if other["id"] == host_id:
                continue
            for name in body.get("domain_names", []):
                if name.lower() in other["domain_names"]:
                    raise ApiError(400, f"{name.lower()} is already in use")

    def _cert_dir(self, cert_id: int) -> Path | None:
        directory = self.data_dir / "custom_ssl" / f"npm-{cert_id}"
        return directory if cert_id and (directory / "fullchain.pem").exists() else None

    def apply(self, host: Row) -> Row:
        """Write the host's nginx config and record what nginx thought of it in `meta`, as NPM does."""
        state = self.nginx.write_host(host, self._cert_dir(int(host["certificate_id"])), self._access(host))
        with self.store.lock:
            meta = dict(host.get("meta") or {}) | state
            return self.store.update("proxy_hosts", host["id"], {"meta": meta})

    def hosts_list(self, request: Request) -> tuple[int, Any]:
        query = request.query.get("query", "").lower()
        rows = [h for h in self.store.rows("proxy_hosts") if not query or any(query in d for d in h["domain_names"])]
        return 200, [self._expand_host(h, request.expand()) for h in rows]

    def host_get(self, request: Request) -> tuple[int, Any]:
        return 200, self._expand_host(self.store.get("proxy_hosts", request.id()), request.expand())

    def host_create(self, request: Request) -> tuple[int, Any]:
        assert request.user is not None
        body = request.json()
        schema.validate(body, schema.proxy_host_properties(self.version), schema.PROXY_HOST_REQUIRED)
        body["domain_names"] = [d.lower() for d in body["domain_names"]]
        with self.store.lock:
            self._check_host(body, None)
            extra = {"trust_forwarded_proto": False} if self.version >= (2, 14, 0) else {}
            host = self.store.insert("proxy_hosts", clean_ssl_hsts({"owner_user_id": request.user["id"]}
                                                                   | HOST_DEFAULTS | extra | body))
        return 201, self._expand_host(self.apply(host), {"owner", "certificate", "access_list"})

    def host_update(self, request: Request) -> tuple[int, Any]:
        body = request.json()
        schema.validate(body, schema.proxy_host_properties(self.version))
        if "domain_names" in body:
            body["domain_names"] = [d.lower() for d in body["domain_names"]]
        with self.store.lock:
            row = self.store.get("proxy_hosts", request.id())
            self._check_host(body, request.id())
            cleaned = clean_ssl_hsts(row | body)  # as upstream's update: the stored row and the body together
            flags = ("ssl_forced", "http2_support", "hsts_enabled", "hsts_subdomains")
            host = self.store.update("proxy_hosts", request.id(), body | {k: cleaned[k] for k in flags})
        return 200, self._expand_host(self.apply(host), {"owner", "certificate", "access_list"})

    def host_delete(self, request: Request) -> tuple[int, Any]:
        self.store.delete("proxy_hosts", request.id())
        self.nginx.remove_host(request.id())
        return 200, True

    def _toggle(self, request: Request, enabled: bool) -> tuple[int, Any]:
        host = self.store.get("proxy_hosts", request.id())
        if host["enabled"] == enabled:
            raise ApiError(400, f"Host is already {'enabled' if enabled else 'disabled'}")
        self.apply(self.store.update("proxy_hosts", host["id"], {"enabled": enabled}))
        return 200, True

    def host_enable(self, request: Request) -> tuple[int, Any]:
        return self._toggle(request, True)

    def host_disable(self, request: Request) -> tuple[int, Any]:
        return self._toggle(request, False)

    # --- certificates -----------------------------------------------------------------------------------------
    def _public_cert(self, cert: Row) -> Row:
        """Key material never leaves the stand-in: the PEM fields of `meta` show as `true`, as NPM's cleanMeta."""
        meta = {k: (True if k in SSL_FILES and v else v) for k, v in cert["meta"].items()}
        return cert | {"meta": meta}

    def certs_list(self, request: Request) -> tuple[int, Any]:
        rows = sorted(self.store.rows("certificates"), key=lambda c: c["nice_name"])
        if "owner" in request.expand():
            return 200, [self._public_cert(c) | {"owner": self._owner(c)} for c in rows]
        return 200, [self._public_cert(c) for c in rows]

    def cert_get(self, request: Request) -> tuple[int, Any]:
        cert = self._public_cert(self.store.get("certificates", request.id()))
        return 200, cert | {"owner": self._owner(cert)} if "owner" in request.expand() else cert

    def cert_create(self, request: Request) -> tuple[int, Any]:
        assert request.user is not None
        body = request.json()
        schema.validate(body, schema.CERTIFICATE, ("provider",))
        unknown = set(body.get("meta") or {}) - set(schema.certificate_meta_keys(self.version))
        if unknown:
            raise ApiError(400, "data.meta should NOT have additional properties")
        if body["provider"] == "letsencrypt":
            raise ApiError(400, LE_REFUSED)
        cert = self.store.insert("certificates", {
            "owner_user_id": request.user["id"], "provider": "other", "nice_name": body.get("nice_name", ""),
            "domain_names": body.get("domain_names", []), "expires_on": None, "meta": body.get("meta") or {}})
        return 201, self._public_cert(cert)

    def cert_validate(self, request: Request) -> tuple[int, Any]:
        return 200, validate_files(self._files(request))

    def _files(self, request: Request) -> dict[str, bytes]:
        parts = parse_multipart(request.headers.get("content-type", ""), request.body)
        return {name: data for name, data in parts.items() if name in SSL_FILES and data.strip()}

    def cert_upload(self, request: Request) -> tuple[int, Any]:
        cert = self.store.get("certificates", request.id())
        if cert["provider"] != "other":
            raise ApiError(400, "Cannot upload certificates for this type of provider")
        files = self._files(request)
        if "certificate" not in files:
            raise ApiError(400, "Certificate file was not provided")
        if "certificate_key" not in files:
            raise ApiError(400, "Certificate Key file was not provided")
        info = validate_files(files)["certificate"]
        write_custom(self.data_dir, cert["id"], files)
        pems = {name: data.decode() for name, data in files.items()}
        self.store.update("certificates", cert["id"], {"expires_on": expires_on(info), "domain_names": [info["cn"]],
                                                       "meta": cert["meta"] | pems})
        for host in self.store.rows("proxy_hosts"):
            if host["certificate_id"] == cert["id"]:
                self.apply(host)
        return 200, pems

    def cert_delete(self, request: Request) -> tuple[int, Any]:
        self.store.delete("certificates", request.id())
        for host in self.store.rows("proxy_hosts"):
            if host["certificate_id"] == request.id():
                self.apply(self.store.update("proxy_hosts", host["id"], {"certificate_id": 0, "ssl_forced": False}))
        return 200, True

    def cert_renew(self, request: Request) -> tuple[int, Any]:
        self.store.get("certificates", request.id())
        raise ApiError(400, "Only Let'sEncrypt certificates can be renewed")

    # --- access lists (backend/internal/access-list.js) -------------------------------------------------------
    def _public_list(self, row: Row) -> Row:
        count = sum(1 for h in self.store.rows("proxy_hosts") if h["access_list_id"] == row["id"])
        shown = {k: v for k, v in row.items() if k not in ("items", "clients")}
        return shown | {"proxy_host_count": count}

    def _expand_list(self, row: Row, expand: set[str]) -> Row:
        """Passwords never leave: `password` is "" and `hint` its first character and a star per other one
        (NPM's maskItems); the stand-in keeps only the `$apr1$` hash, never the password itself."""
        shown = self._public_list(row)
        if "items" in expand:
            shown["items"] = [{k: v for k, v in item.items() if k != "htpasswd"} | {"password": ""}
                              for item in row["items"]]
        if "clients" in expand:
            shown["clients"] = [dict(client) for client in row["clients"]]
        if "proxy_hosts" in expand:
            shown["proxy_hosts"] = [h for h in self.store.rows("proxy_hosts") if h["access_list_id"] == row["id"]]
        if "owner" in expand:
            shown["owner"] = self._owner(row)
        return shown

    def _user(self, list_id: int, username: str, password: str) -> Row:
        return self.store.child("access_list_auth", {
            "access_list_id": list_id, "username": username, "meta": {},
            "hint": password[:1] + "*" * (len(password) - 1), "htpasswd": apr1(password)})

    def _client(self, list_id: int, client: Row) -> Row:
        return self.store.child("access_list_client", {"access_list_id": list_id, "address": client.get("address"),
                                                       "directive": client.get("directive"), "meta": {}})

    def _build(self, row: Row) -> None:
        """NPM's build(): the htpasswd file, rewritten whole (empty when the list has no users)."""
        self.nginx.write_access_file(row["id"], [f"{i['username']}:{i['htpasswd']}" for i in row["items"]])

    def _access(self, host: Row) -> Access | None:
        list_id = int(host.get("access_list_id") or 0)
        if list_id <= 0:
            return None
        try:
            row: Row | None = self.store.get("access_lists", list_id)
        except ApiError:
            row = None  # NPM renders the block with no rules then: `deny all`
        if row is not None and row["items"] and not self.nginx.access_file(list_id).exists():
            self._build(row)
        return Access.of(row, self.nginx.access_file(list_id), self.version)

    def _reconfigure_users_of(self, list_id: int) -> None:
        """Updating a list re-renders every proxy host using it (NPM's bulkGenerateConfigs)."""
        for host in self.store.rows("proxy_hosts"):
            if host["access_list_id"] == list_id:
                self.apply(host)

    def lists_list(self, request: Request) -> tuple[int, Any]:
        query = request.query.get("query", "").lower()
        rows = sorted((r for r in self.store.rows("access_lists") if query in r["name"].lower()),
                      key=lambda r: r["name"])
        return 200, [self._expand_list(r, request.expand()) for r in rows]

    def list_get(self, request: Request) -> tuple[int, Any]:
        return 200, self._expand_list(self.store.get("access_lists", request.id()), request.expand())

    def list_create(self, request: Request) -> tuple[int, Any]:
        assert request.user is not None
        body = request.json()
        schema.validate(body, schema.ACCESS_LIST, ("name",))
        with self.store.lock:
            row = self.store.insert("access_lists", {
                "owner_user_id": request.user["id"], "name": body["name"], "meta": body.get("meta") or {},
                "satisfy_any": bool(body.get("satisfy_any", False)), "pass_auth": bool(body.get("pass_auth", False)),
                "items": [], "clients": []})
            items = [self._user(row["id"], i["username"], i["password"]) for i in body.get("items") or []]
            clients = [self._client(row["id"], c) for c in body.get("clients") or []]
            row = self.store.update("access_lists", row["id"], {"items": items, "clients": clients})
        self._build(row)
        return 201, self._expand_list(row, {"owner", "items", "clients", "proxy_hosts"})

    def list_update(self, request: Request) -> tuple[int, Any]:
        """As NPM: name, satisfy_any and pass_auth change only when `name` is given; `items` replaces the users
        (an empty password keeps that user's), `clients` replaces the rules (those without address dropped)."""
        body = request.json()
        schema.validate(body, schema.ACCESS_LIST_UPDATE)
        with self.store.lock:
            row = self.store.get("access_lists", request.id())
            fields: Row = {}
            if body.get("name"):  # NPM's patch with the three; knex leaves out those the body lacks
                fields |= {k: body[k] for k in ("name", "satisfy_any", "pass_auth") if k in body}
            if "items" in body:
                keep = {i["username"] for i in body["items"] if not i.get("password")}
                fields["items"] = [i for i in row["items"] if i["username"] in keep] + [
                    self._user(row["id"], i["username"], i["password"]) for i in body["items"] if i.get("password")]
            if "clients" in body:
                fields["clients"] = [self._client(row["id"], c) for c in body["clients"] if c.get("address")]
            row = self.store.update("access_lists", row["id"], fields)
        self._build(row)
        self._reconfigure_users_of(row["id"])
        return 200, self._expand_list(row, {"owner", "items", "clients", "proxy_hosts"})

    def list_delete(self, request: Request) -> tuple[int, Any]:
        """As NPM: the hosts using the list get access_list_id 0 and are re-rendered; the htpasswd file goes."""
        with self.store.lock:
            row = self.store.delete("access_lists", request.id())
            users = [h for h in self.store.rows("proxy_hosts") if h["access_list_id"] == row["id"]]
            detached = [self.store.update("proxy_hosts", h["id"], {"access_list_id": 0}) for h in users]
        for host in detached:
            self.apply(host)
        self.nginx.remove_access_file(row["id"])
        return 200, True
