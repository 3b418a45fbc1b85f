"""Grafana 11.5's HTTP API as the stand-in serves it: routes, Basic auth, and Grafana's error bodies."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import gf_health
import gf_more
import gf_views
from gf_auth import UNAUTHORIZED, Authenticator, Identity
from gf_datasources import Datasources
from gf_settings import COMMIT, VERSION, Settings
from gf_store import DashboardError, Store

Row = dict[str, Any]
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "deny",
                    "X-Xss-Protection": "1; mode=block"}


@dataclass
class Reply:
    status: int
    body: Any
    content_type: str = "application/json"


Handler = Callable[["GrafanaServer", re.Match[str], dict[str, list[str]], Any], Reply]


class GrafanaServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], settings: Settings, store: Store, datasources: Datasources) -> None:
        self.settings, self.store, self.datasources = settings, store, datasources
        self.auth = Authenticator(settings, store)
        super().__init__(address, _Handler)


def _health(server: GrafanaServer, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Reply:
    data = {"database": "ok"}
    if not server.settings.hide_version:
        data |= {"version": VERSION, "commit": COMMIT}
    text = json.dumps(data, indent=2, sort_keys=True)
    return Reply(200, text, "application/json; charset=UTF-8")


def _search(server: GrafanaServer, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Reply:
    return Reply(200, gf_views.search(server.store, query))


def _dashboard(server: GrafanaServer, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Reply:
    dashboard = server.store.dashboards.get(match["uid"])
    if dashboard is None:
        return Reply(404, {"message": "Dashboard not found"})
    return Reply(200, gf_views.dashboard_with_meta(server.store, dashboard))


def _delete(server: GrafanaServer, match: re.Match[str], query: dict[str, list[str]], body: Any,
            force: bool = False) -> Reply:
    dashboard = server.store.delete_dashboard(match["uid"], force=force)
    return Reply(200, {"title": dashboard.title, "message": f"Dashboard {dashboard.title} deleted", "id": dashboard.id})


def _force_delete(server: GrafanaServer, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Reply:
    """Stand-in only: what Grafana's provisioner may do, for faults; provisioning brings the dashboard back."""
    return _delete(server, match, query, body, force=True)


def _save(server: GrafanaServer, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Reply:
    if not isinstance(body, dict) or not isinstance(body.get("dashboard"), dict):
        return Reply(400, {"message": "bad request data"})
    folder_uid = str(body.get("folderUid") or "")
    if not folder_uid and body.get("folderId"):
        folder = next((f for f in server.store.folders.values() if f.id == body["folderId"]), None)
        folder_uid = folder.uid if folder else "-"
    dashboard = server.store.save_dashboard(body["dashboard"], folder_uid, bool(body.get("overwrite")))
    return Reply(200, gf_views.saved(dashboard))


def _datasource_list(server: GrafanaServer, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Reply:
    return Reply(200, server.datasources.listing())


def _datasource(server: GrafanaServer, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Reply:
    key, value = next((k, v) for k, v in match.groupdict().items() if v is not None)
    row = server.datasources.find(key, int(value) if key == "id" else value)
    if row is None:
        return Reply(404, {"message": "Data source not found"})
    return Reply(200, Datasources.detail(row))


def _datasource_health(server: GrafanaServer, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Reply:
    row = server.datasources.find("uid", match["uid"])
    if row is None:
        return Reply(404, {"message": "Data source not found"})
    return Reply(*gf_health.check(row))


def _folders(server: GrafanaServer, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Reply:
    folders = sorted(server.store.folders.values(), key=lambda f: f.title.lower())
    return Reply(200, [{"id": f.id, "uid": f.uid, "title": f.title} for f in folders])


def _folder(server: GrafanaServer, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Reply:
    folder = server.store.folders.get(match["uid"])
    if folder is None:
        return Reply(404, {"message": "folder not found"})
    return Reply(200, gf_views.folder_dto(folder))


def _create_folder(server: GrafanaServer, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Reply:
    if not isinstance(body, dict):
        return Reply(400, {"message": "bad request data"})
    folder = server.store.create_folder(str(body.get("title") or ""), str(body.get("uid") or ""))
    return Reply(200, gf_views.folder_dto(folder))


def _simple(reply: Callable[[GrafanaServer, dict[str, list[str]], Any], Any]) -> Handler:
    """A handler from a function of (server, query, body) whose value is the 200 body."""
    def handler(server: GrafanaServer, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Reply:
        return Reply(200, reply(server, query, body))
    return handler


def _by(match: re.Match[str]) -> tuple[str, Any]:
    key, value = next((k, v) for k, v in match.groupdict().items() if v is not None)
    return key, int(value) if key == "id" else value


def _datasource_write(server: GrafanaServer, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Reply:
    key, value = _by(match)
    if body is _DELETE:
        return Reply(200, gf_more.delete_datasource(server.datasources, key, value))
    return Reply(200, gf_more.update_datasource(server.datasources, key, value, body))


_DELETE = object()  # the body a DELETE route is handed, so one handler serves PUT and DELETE
_ID, _UID, _NAME = r"/api/datasources/(?P<id>\d+)", r"/api/datasources/uid/(?P<uid>[^/]+)", \
    r"/api/datasources/name/(?P<name>[^/]+)"
# (method, path pattern, who may call it: "" anyone, else "LEVEL ACTION" with LEVEL one of viewer (any signed-in
# user, anonymous included), editor, admin (org admin), user (signed in, not anonymous: pkg/api/api.go's
# reqSignedInNoAnonymous), server-admin (Grafana admin); ACTION names the permission in a 403, handler)
ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = [
    ("GET", re.compile(r"/api/health"), "", _health),
    ("GET", re.compile(r"/api/user/signup/options"), "",
     _simple(lambda server, query, body: {"verifyEmailEnabled": False, "autoAssignOrg": True})),
    ("POST", re.compile(r"/api/user/signup"), "", _simple(lambda server, query, body: gf_more.sign_up(server, body))),
    ("GET", re.compile(r"/api/frontend/settings"), "viewer -",
     _simple(lambda server, query, body: gf_more.frontend_settings(server))),
    ("GET", re.compile(r"/api/org"), "viewer orgs:read",
     _simple(lambda server, query, body: gf_more.current_org(server))),
    ("GET", re.compile(r"/api/user"), "user -", _simple(lambda server, query, body: gf_more.user_profile(server))),
    ("GET", re.compile(r"/api/users"), "server-admin users:read",
     _simple(lambda server, query, body: gf_more.users(server, query))),
    ("GET", re.compile(r"/api/users/search"), "server-admin users:read",
     _simple(lambda server, query, body: (lambda rows: {"totalCount": len(rows), "users": rows, "page": 1,
                                                         "perPage": 1000})(gf_more.users(server, query)))),
    ("GET", re.compile(r"/api/users/lookup"), "server-admin users:read",
     _simple(lambda server, query, body: gf_more.user_by(server, "login", (query.get("loginOrEmail") or [""])[0]))),
    ("GET", re.compile(r"/api/users/(?P<id>\d+)"), "server-admin users:read",
     lambda server, match, query, body: Reply(200, gf_more.user_by(server, "id", match["id"]))),
    ("GET", re.compile(r"/api/admin/stats"), "server-admin server.stats:read",
     _simple(lambda server, query, body: gf_more.admin_stats(server))),
    ("GET", re.compile(r"/api/search"), "viewer dashboards:read", _search),
    ("GET", re.compile(r"/api/dashboards/uid/(?P<uid>[^/]+)"), "viewer dashboards:read", _dashboard),
    ("DELETE", re.compile(r"/api/dashboards/uid/(?P<uid>[^/]+)"), "editor dashboards:delete", _delete),
    ("POST", re.compile(r"/api/dashboards/db/?"), "editor dashboards:write", _save),
    ("GET", re.compile(r"/api/datasources"), "admin datasources:read", _datasource_list),
    ("POST", re.compile(r"/api/datasources"), "admin datasources:create",
     _simple(lambda server, query, body: gf_more.create_datasource(server.datasources, body))),
    ("GET", re.compile(_ID), "admin datasources:read", _datasource),
    ("GET", re.compile(_UID), "admin datasources:read", _datasource),
    ("GET", re.compile(_NAME), "admin datasources:read", _datasource),
    ("PUT", re.compile(_ID), "admin datasources:write", _datasource_write),
    ("PUT", re.compile(_UID), "admin datasources:write", _datasource_write),
    ("DELETE", re.compile(_ID), "admin datasources:delete", _datasource_write),
    ("DELETE", re.compile(_UID), "admin datasources:delete", _datasource_write),
    ("DELETE", re.compile(_NAME), "admin datasources:delete", _datasource_write),
    ("GET", re.compile(r"/api/datasources/uid/(?P<uid>[^/]+)/health"), "admin datasources:query", _datasource_health),
    ("GET", re.compile(r"/api/folders"), "viewer folders:read", _folders),
    ("POST", re.compile(r"/api/folders"), "editor folders:create", _create_folder),
    ("GET", re.compile(r"/api/folders/(?P<uid>[^/]+)"), "viewer folders:read", _folder),
    ("DELETE", re.compile(r"/standin/dashboards/uid/(?P<uid>[^/]+)"), "admin -", _force_delete),
]
RANKS = {"viewer": 1, "editor": 2, "admin": 3}
ROLE_RANKS = {"Viewer": 1, "Editor": 2, "Admin": 3}


def _denied(identity: Identity, access: str) -> Reply | None:
    """None when `identity` may call a route guarded by `access`, else Grafana's refusal."""
    level, _, action = access.partition(" ")
    if level == "user" and identity.anonymous:
        return Reply(*UNAUTHORIZED)
    allowed = identity.server_admin if level == "server-admin" else (
        ROLE_RANKS.get(identity.role, 0) >= RANKS.get(level, 0))
    if allowed:
        return None
    # accesscontrol's deny(): 403 with the permission the caller lacks
    return Reply(403, {"accessErrorId": "ACE0000000000", "message": "You'll need additional permissions to perform "
                       f"this action. Permissions needed: {action}", "title": "Access denied"})


class _Handler(BaseHTTPRequestHandler):
    server: GrafanaServer
    protocol_version = "HTTP/1.1"

    def send_response(self, code: int, message: str | None = None) -> None:
        # Grafana sends no Server header.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("GET", head=True)

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str, head: bool = False) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path.rstrip("/") or "/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path == "/healthz":
            return self._send(Reply(200, "Ok", "text/plain; charset=utf-8"), head)
        if path in ("/", "/login"):
            return self._send(_login_page(path), head)
        for verb, pattern, access, handler in ROUTES:
            match = pattern.fullmatch(path)
            if verb != method or match is None:
                continue
            if access:
                identity = self.server.auth.identify(self.headers.get("Authorization", ""))
                if isinstance(identity, tuple):
                    return self._send(Reply(identity[0], identity[1]), head)
                if (denied := _denied(identity, access)) is not None:
                    return self._send(denied, head)
            return self._send(self._run(handler, match, parse_qs(url.query), raw, method), head)
        self._send(Reply(404, {"message": "Not found"}), head)

    def _run(self, handler: Handler, match: re.Match[str], query: dict[str, list[str]], raw: bytes,
             method: str) -> Reply:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return Reply(400, {"message": "bad request data"})
        try:
            return handler(self.server, match, query, _DELETE if method == "DELETE" else body)
        except DashboardError as error:
            return Reply(error.code, error.body())
        except gf_more.ApiError as error:
            return Reply(error.status, {"message": error.message})

    def _send(self, reply: Reply, head: bool = False) -> None:
        text = reply.body if isinstance(reply.body, str) else json.dumps(reply.body, separators=(",", ":"))
        data = text.encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        if reply.status == 302:
            self.send_header("Location", "/login")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _login_page(path: str) -> Reply:
    if path == "/":
        return Reply(302, '<a href="/login">Found</a>.\n\n', "text/html; charset=utf-8")
    return Reply(200, "<!DOCTYPE html><html><head><title>Grafana</title></head><body>Grafana stand-in: "
                      "the API is served, the web UI is not.</body></html>", "text/html; charset=utf-8")
