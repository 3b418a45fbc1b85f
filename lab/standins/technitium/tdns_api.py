"""The HTTP API on 5380: every answer is HTTP 200 with `status` ok | error | invalid-token (unknown path: 404).

Longer than 300 lines because it is one route table: each route keeps upstream's parameter names, defaults and
error texts (DnsServerCore/WebService*.cs at 13.6.0) beside its handler, where a difference from upstream shows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tdns_records import IDENTITY, build_rdata, matches, required, to_text
from tdns_stats import WINDOWS
from tdns_store import RECURSION_VALUES, VERSION, ApiError, Store, fqdn, in_zone, record, zone_soa_serial

Request = Callable[[str], str | None]
Result = dict[str, Any]
PERMISSION_SECTIONS = ("Dashboard", "Zones", "Cache", "Allowed", "Blocked", "Apps", "DnsClient", "Settings",
                       "DhcpServer", "Administration", "Logs")
EXPORT = "/api/zones/export"
CONSOLE = b"<!DOCTYPE html><html><head><title>Technitium DNS Server</title></head><body>stand-in</body></html>"


def _bool(value: str | None, default: bool = False) -> bool:
    return default if value is None else value.strip().lower() == "true"


def _list(value: str) -> list[str]:
    return [] if value.strip().lower() == "false" else [v.strip() for v in value.split(",") if v.strip()]


def zone_info(zone: dict[str, Any], full: bool = True) -> Result:
    info: Result = {"name": zone["name"], "type": zone["type"], "internal": False, "dnssecStatus": "Unsigned",
                    "disabled": zone["disabled"]}
    if full:
        info |= {"soaSerial": zone_soa_serial(zone), "notifyFailed": False, "notifyFailedFor": [],
                 "lastModified": zone["lastModified"]}
    return info


class Api:
    """Handlers by path; each takes the parameter getter and returns the `response` object or a top-level dict."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.public: dict[str, Callable[[Request], Result]] = {
            "/api/user/login": self.login, "/api/login": self.login, "/api/sso/status": self.sso_status,
            "/api/user/createToken": self.create_token_with_password}
        self.protected: dict[str, Callable[[Request, str], Result]] = {
            "/api/user/session/get": self.session_get, "/api/user/logout": self.logout,
            "/api/admin/sessions/createToken": self.admin_create_token,
            "/api/user/changePassword": self.change_password,
            "/api/dashboard/stats/get": self.dashboard_stats,
            "/api/zones/create": self.zone_create, "/api/zone/create": self.zone_create,
            "/api/zones/list": self.zone_list, "/api/zones/delete": self.zone_delete,
            "/api/zones/enable": self.zone_enable, "/api/zones/disable": self.zone_disable,
            "/api/zones/records/add": self.record_add, "/api/zone/addRecord": self.record_add,
            "/api/zones/records/get": self.record_get, "/api/zones/records/delete": self.record_delete,
            "/api/zones/records/update": self.record_update,
            "/api/settings/get": self.settings_get, "/api/settings/set": self.settings_set}

    def known(self, path: str) -> bool:
        return path in self.public or path in self.protected or path == EXPORT

    def envelope(self, body: Result, top_level: bool = False) -> Result:
        server = self.store.settings["dnsServerDomain"]
        if top_level:
            return body | {"server": server, "status": "ok"}
        return {"response": body, "server": server, "status": "ok"}

    def session_body(self, user: str, token: str, params: Request) -> Result:
        body: Result = {"displayName": self.store.data["users"][user]["displayName"], "username": user,
                        "isSsoUser": False, "totpEnabled": False, "token": token}
        if _bool(params("includeInfo")):
            all_rights = {"canView": True, "canModify": True, "canDelete": True}
            body["info"] = {"version": VERSION, "uptimestamp": self.store.settings["uptimestamp"],
                            "dnsServerDomain": self.store.settings["dnsServerDomain"],
                            "defaultRecordTtl": self.store.settings["defaultRecordTtl"],
                            "defaultNsRecordTtl": self.store.settings["defaultNsRecordTtl"],
                            "defaultSoaRecordTtl": self.store.settings["defaultSoaRecordTtl"],
                            "useSoaSerialDateScheme": False,
                            "permissions": {s: dict(all_rights) for s in PERMISSION_SECTIONS}}
        return self.envelope(body, top_level=True)

    # --- users ------------------------------------------------------------------------------------------------
    def login(self, params: Request) -> Result:
        user, password = required(params, "user").lower(), required(params, "pass")
        if not self.store.check_password(user, password):
            raise ApiError(f"Invalid username or password for user: {user}")
        return self.session_body(user, self.store.new_token(user, "session"), params)

    def sso_status(self, params: Request) -> Result:
        return self.envelope({"ssoEnabled": False}, top_level=True)

    def session_get(self, params: Request, user: str) -> Result:
        return self.session_body(user, str(params("__token")), params)

    def logout(self, params: Request, user: str) -> Result:
        self.store.drop_token(str(params("__token")))
        return self.envelope({}, top_level=True)

    def create_token_with_password(self, params: Request) -> Result:
        """13.6 maps /api/user/createToken to LoginAsync(ApiToken): no session is looked at, `user`, `pass` and
        `tokenName` are read in that order (a missing one: "Parameter 'user' missing."), as a login."""
        user, password, name = required(params, "user").lower(), required(params, "pass"), required(params, "tokenName")
        if not self.store.check_password(user, password):
            raise ApiError(f"Invalid username or password for user: {user}")
        token = self.store.new_token(user, "api", name)
        return self.envelope({"username": user, "tokenName": name, "token": token}, top_level=True)

    def admin_create_token(self, params: Request, user: str) -> Result:
        """/api/admin/sessions/createToken (WebServiceAuthApi.CreateApiToken): a session with Administration
        rights makes an API token for `user`, named `tokenName`."""
        owner, name = required(params, "user").lower(), required(params, "tokenName")
        if owner not in self.store.data["users"]:
            raise ApiError(f"No such user exists: {owner}")
        token = self.store.new_token(owner, "api", name)
        return self.envelope({"username": owner, "tokenName": name, "token": token})

    def change_password(self, params: Request, user: str) -> Result:
        self.store.set_password(user, required(params, "pass"))
        return self.envelope({})

    # --- zones ------------------------------------------------------------------------------------------------
    def zone_create(self, params: Request, user: str) -> Result:
        kind = params("type") or "Primary"
        if kind != "Primary":
            raise ApiError(f"The stand-in serves Primary zones only, not {kind}")
        zone = self.store.create_zone(required(params, "zone"), kind)
        return self.envelope({"domain": zone["name"]})

    def zone_list(self, params: Request, user: str) -> Result:
        zones = [zone_info(z) for z in sorted(self.store.zones.values(), key=lambda z: z["name"])]
        page = params("pageNumber")
        if page is None:
            return self.envelope({"zones": zones})
        per_page = int(params("zonesPerPage") or "10")
        pages = max(1, math.ceil(len(zones) / per_page))
        number = min(max(1, int(page)), pages)
        chunk = zones[(number - 1) * per_page: number * per_page]
        return self.envelope({"pageNumber": number, "totalPages": pages, "totalZones": len(zones), "zones": chunk})

    def zone_delete(self, params: Request, user: str) -> Result:
        self.store.delete_zone(required(params, "zone"))
        return self.envelope({})

    def _set_disabled(self, params: Request, disabled: bool) -> Result:
        with self.store.lock:
            zone = self.store.zone(required(params, "zone"))
            zone["disabled"] = disabled
            self.store.touch(zone)
        return self.envelope({})

    def zone_enable(self, params: Request, user: str) -> Result:
        return self._set_disabled(params, False)

    def zone_disable(self, params: Request, user: str) -> Result:
        return self._set_disabled(params, True)

    # --- records ----------------------------------------------------------------------------------------------
    def _record_zone(self, params: Request) -> tuple[dict[str, Any], str]:
        domain = fqdn(required(params, "domain"))
        zone_name = params("zone")
        zone = self.store.zone(zone_name) if zone_name else self.store.closest_zone(domain)
        if zone is None or not in_zone(domain, zone["name"]):
            raise ApiError(f"No such zone was found: {zone_name or domain}")
        return zone, domain

    def record_add(self, params: Request, user: str) -> Result:
        kind = required(params, "type").upper()
        with self.store.lock:
            zone, domain = self._record_zone(params)
            rdata = build_rdata(kind, params)
            ttl = int(params("ttl") or self.store.settings["defaultRecordTtl"])
            if _bool(params("overwrite")):
                zone["records"] = [r for r in zone["records"] if not (r["name"] == domain and r["type"] == kind)]
            kinds = {r["type"] for r in zone["records"] if r["name"] == domain}
            if kind == "CNAME" and "CNAME" in kinds:
                raise ApiError("Cannot add record: a CNAME record already exists for the domain name. "
                               "Use overwrite option if you wish to overwrite existing records.")
            if (kind == "CNAME" and kinds) or (kind != "CNAME" and "CNAME" in kinds):
                raise ApiError(f"Cannot add record: a CNAME record cannot coexist with other records at {domain}")
            added = record(domain, kind, ttl, rdata)
            if params("comments"):
                added["comments"] = params("comments")
            duplicate = any(r["name"] == domain and r["type"] == kind and r["rData"] == rdata
                            for r in zone["records"])
            if not duplicate:
                zone["records"].append(added)
            self.store.touch(zone)
            return self.envelope({"zone": zone_info(zone, full=False), "addedRecord": added})

    def record_get(self, params: Request, user: str) -> Result:
        with self.store.lock:
            zone, domain = self._record_zone(params)
            if _bool(params("listZone")):
                records = list(zone["records"])
            else:
                records = [r for r in zone["records"] if r["name"] == domain]
            return self.envelope({"zone": zone_info(zone, full=False), "records": records})

    def record_delete(self, params: Request, user: str) -> Result:
        kind = required(params, "type").upper()
        if kind not in IDENTITY:
            raise ApiError(f"The record type is not supported by this stand-in: {kind}")
        with self.store.lock:
            zone, domain = self._record_zone(params)
            keep = [r for r in zone["records"]
                    if not (r["name"] == domain and r["type"] == kind and matches(kind, r["rData"], params))]
            if len(keep) == len(zone["records"]):
                raise ApiError(f"Cannot delete record: no such record exists: {domain} {kind}")
            zone["records"] = keep
            self.store.touch(zone)
        return self.envelope({})

    def record_update(self, params: Request, user: str) -> Result:
        """WebServiceZonesApi.UpdateRecord: the record named by the old values (`ipAddress`, `text`, ...) gets the
        `new*` values (`newIpAddress`, `newText`, ...; each defaults to the old), `newDomain`, `ttl` (default:
        the default TTL, as upstream), `disable` and `comments`."""
        kind = required(params, "type").upper()
        if kind not in IDENTITY or kind == "SOA":
            raise ApiError(f"The record type is not supported by this stand-in: {kind}")
        with self.store.lock:
            zone, domain = self._record_zone(params)
            new_domain = fqdn(params("newDomain") or domain)
            if not in_zone(new_domain, zone["name"]):
                raise ApiError(f"The domain name '{new_domain}' does not belong to the zone '{zone['name']}'")
            old = [r for r in zone["records"]
                   if r["name"] == domain and r["type"] == kind and matches(kind, r["rData"], params)]
            if not old:
                raise ApiError("Cannot update record: the old record does not exists.")

            def new_value(name: str) -> str | None:
                new_name = "new" + name[0].upper() + name[1:]
                return params(new_name) or params(name)

            rdata = dict(old[0]["rData"]) | build_rdata(kind, new_value)
            updated = record(new_domain, kind, int(params("ttl") or self.store.settings["defaultRecordTtl"]), rdata)
            updated["disabled"] = _bool(params("disable"))
            if params("comments"):
                updated["comments"] = params("comments")
            zone["records"][zone["records"].index(old[0])] = updated
            self.store.touch(zone)
            return self.envelope({"zone": zone_info(zone, full=False), "updatedRecord": updated})

    def export_zone(self, params: Request) -> str:
        """/api/zones/export: the zone file as text/plain (errors are JSON, as every API error)."""
        with self.store.lock:
            return zone_file(self.store.zone(required(params, "zone")))

    def dashboard_stats(self, params: Request, user: str) -> Result:
        kind = params("type") or "lastHour"
        if kind.lower() not in WINDOWS:
            raise ApiError(f"Unknown stats type requested: {kind}")  # `custom` (start/end) is not served
        return self.envelope(self.store.queries.stats(kind, len(self.store.zones)))

    # --- settings ---------------------------------------------------------------------------------------------
    def settings_get(self, params: Request, user: str) -> Result:
        return self.envelope(dict(self.store.settings))

    def settings_set(self, params: Request, user: str) -> Result:
        with self.store.lock:
            settings = dict(self.store.settings)
            recursion = params("recursion")
            if recursion is not None:
                match = [v for v in RECURSION_VALUES if v.lower() == recursion.lower()]
                if not match:
                    raise ApiError(f"Requested value '{recursion}' was not found.")
                settings["recursion"] = match[0]
            for key in ("recursionNetworkACL", "forwarders", "blockListUrls"):
                value = params(key)
                if value is not None:
                    settings[key] = _list(value) or (None if key != "recursionNetworkACL" else [])
            for key in ("dnsServerDomain", "forwarderProtocol"):
                if params(key):
                    settings[key] = params(key)
            for key in ("defaultRecordTtl", "webServiceHttpPort"):
                if params(key):
                    settings[key] = int(str(params(key)))
            for key in ("enableBlocking", "enableDnsOverHttp", "enableDnsOverHttps", "enableDnsOverTls",
                        "preferIPv6", "logQueries"):
                if params(key) is not None:
                    settings[key] = _bool(params(key))
            self.store.data["settings"] = settings
            self.store.save()
        return self.envelope(dict(settings))


class Handler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        self._serve(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _serve(self, body: bytes) -> None:
        url = urlsplit(self.path)
        if not url.path.startswith("/api/"):
            self._send(200 if url.path in ("/", "/index.html") else 404, CONSOLE, "text/html")
            return
        api = self.server.api
        if not api.known(url.path):
            self._send(404, b"", "text/plain")
            return
        params = self._params(url.query, body)
        try:
            if url.path == EXPORT and self._user(api, params) is not None:
                self._export(api, params)
                return
            result = self._dispatch(api, url.path, params)
        except ApiError as exc:
            result = {"server": api.store.settings["dnsServerDomain"], "status": "error", "errorMessage": str(exc)}
        except (ValueError, KeyError) as exc:
            result = {"server": api.store.settings["dnsServerDomain"], "status": "error",
                      "errorMessage": f"Invalid request: {exc}"}
        self._send(200, json.dumps(result, separators=(",", ":")).encode(), "application/json; charset=utf-8")

    def _dispatch(self, api: Api, path: str, params: dict[str, str]) -> Result:
        get = params.get
        if path in api.public:
            return api.public[path](get)
        user = self._user(api, params)
        if user is None:
            return {"server": api.store.settings["dnsServerDomain"], "status": "invalid-token",
                    "errorMessage": "Invalid token or session expired."}
        return api.protected[path](get, user)

    def _user(self, api: Api, params: dict[str, str]) -> str | None:
        token = self._token(params)
        user = api.store.token_user(token) if token else None
        if user is not None:
            params["__token"] = str(token)
        return user

    def _export(self, api: Api, params: dict[str, str]) -> None:
        """Export answers the zone file itself (text/plain, as an attachment), not a JSON envelope."""
        text = api.export_zone(params.get)
        name = fqdn(params.get("zone") or "")
        self.send_response(200)
        self.send_header("Content-Disposition", f"attachment;filename={name or 'root'}.zone")
        payload = text.encode()
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _token(self, params: dict[str, str]) -> str | None:
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip()
        return params.get("token")

    def _params(self, query: str, body: bytes) -> dict[str, str]:
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        content_type = self.headers.get("Content-Type", "")
        if body and "json" in content_type:
            loaded = json.loads(body)
            params |= {k: ",".join(map(str, v)) if isinstance(v, list) else str(v).lower()
                       if isinstance(v, bool) else str(v) for k, v in loaded.items()}
        elif body:
            params |= {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        return params

    def _send(self, code: int, payload: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: Api) -> None:
        self.api = api
        super().__init__(address, Handler)


def zone_file(zone: dict[str, Any]) -> str:
    """The zone as an RFC 1035 master file, as Export answers it (text/plain), comments after `;`."""
    lines = [f"$ORIGIN {zone['name']}.", ""]
    for rec in zone["records"]:
        owner = "@" if rec["name"] == zone["name"] else rec["name"] + "."
        line = f"{owner}\t{rec['ttl']}\tIN\t{rec['type']}\t{to_text(rec['type'], rec['rData'])}"
        if rec.get("comments"):
            line += f"\t; {rec['comments']}"
        lines.append(line if not rec.get("disabled") else ";" + line)
    return "\n".join(lines) + "\n"
