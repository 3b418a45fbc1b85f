"""Uptime Kuma 1.23's HTTP routes: `/` redirect, `/metrics` (Basic auth), push, public status pages, and
`/socket.io/` (the management API, kuma_events.py) on the same port."""

from __future__ import annotations

import base64
import binascii
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from kuma_checks import Checker
from kuma_events import KumaEvents
from kuma_store import DOWN, UP, Row, Store

PAGE_CONFIG_KEYS = ("slug", "title", "description", "icon", "theme", "published", "showTags", "customCSS",
                    "footerText", "showPoweredBy", "googleAnalyticsId", "showCertificateExpiry")
HEARTBEATS_SHOWN = 50
NOT_FOUND = {"ok": False, "msg": "Monitor not found or not active."}
SOCKET_IO = "/socket.io/"


def _label(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics(store: Store) -> str:
    """Prometheus text with the 1.23 families and labels, for monitors that have a heartbeat."""
    families = {"monitor_cert_days_remaining": "The number of days remaining until the certificate expires",
                "monitor_cert_is_valid": "Is the certificate still valid? (1 = Yes, 0= No)",
                "monitor_response_time": "Monitor Response Time (ms)",
                "monitor_status": "Monitor Status (1 = UP, 0= DOWN, 2= PENDING, 3= MAINTENANCE)"}
    samples: dict[str, list[str]] = {name: [] for name in families}
    for monitor in store.monitors():
        beat = store.last_beat(monitor["id"])
        if not monitor["active"] or beat is None:
            continue
        labels = ",".join(f'monitor_{key}="{_label(monitor[key])}"'
                          for key in ("name", "type", "url", "hostname", "port"))
        samples["monitor_status"].append(f"monitor_status{{{labels}}} {beat['status']}")
        ping = beat["ping"] if isinstance(beat["ping"], int | float) else -1
        samples["monitor_response_time"].append(f"monitor_response_time{{{labels}}} {ping}")
        if beat.get("cert"):
            samples["monitor_cert_days_remaining"].append(
                f"monitor_cert_days_remaining{{{labels}}} {beat['cert']['daysRemaining']}")
            samples["monitor_cert_is_valid"].append(f"monitor_cert_is_valid{{{labels}}} {int(beat['cert']['valid'])}")
    lines = []
    for name, help_text in families.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *samples[name]]
    return "\n".join(lines) + "\n"


def _public_monitor(store: Store, monitor_id: int, page: Row) -> Row | None:
    try:
        monitor = store.monitor(monitor_id)
    except KeyError:
        return None
    shown: Row = {"id": monitor["id"], "name": monitor["name"], "sendUrl": 0, "type": monitor["type"]}
    if page["showCertificateExpiry"]:
        cert = next((b["cert"] for b in reversed(store.beats(monitor_id)) if b.get("cert")), None)
        shown |= {"certExpiryDaysRemaining": cert["daysRemaining"] if cert else -1,
                  "validCert": bool(cert and cert["valid"])}
    if page["showTags"]:
        shown["tags"] = []
    return shown


def status_page(store: Store, page: Row) -> Row:
    groups = []
    for index, group in enumerate(page["groups"], start=1):
        shown = [_public_monitor(store, m, page) for m in group.get("monitorList", [])]
        groups.append({"id": index, "name": group["name"], "weight": index,
                       "monitorList": [m for m in shown if m is not None]})
    return {"config": {key: page.get(key) for key in PAGE_CONFIG_KEYS}, "incident": None,
            "publicGroupList": groups, "maintenanceList": []}


def heartbeats(store: Store, page: Row | None) -> Row:
    beats: Row = {}
    uptime: Row = {}
    for group in page["groups"] if page else []:
        for monitor_id in group.get("monitorList", []):
            recent = store.beats(monitor_id)
            beats[str(monitor_id)] = [{"status": b["status"], "time": b["time"], "msg": "", "ping": b["ping"]}
                                      for b in recent[-HEARTBEATS_SHOWN:]]
            counted = [b for b in recent if b["status"] in (UP, DOWN)]
            uptime[f"{monitor_id}_24"] = sum(b["status"] == UP for b in counted) / len(counted) if counted else 0
    return {"heartbeatList": beats, "uptimeList": uptime}


class Handler(BaseHTTPRequestHandler):
    server: KumaServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path, store = url.path, self.server.store
        if path == SOCKET_IO:
            self.server.events.io.engine.handle(self)
        elif path == "/":
            self._send(302, b"Found", "text/plain", (("Location", "/setup" if store.need_setup() else "/dashboard"),))
        elif path == "/metrics":
            self._metrics()
        elif path.startswith("/api/push/"):
            self._push(unquote(path.removeprefix("/api/push/")), parse_qs(url.query))
        elif path.startswith("/api/status-page/heartbeat/"):
            self._json(200, heartbeats(store, store.status_page(unquote(path.rsplit("/", 1)[1]))))
        elif path.startswith("/api/status-page/"):
            page = store.status_page(unquote(path.rsplit("/", 1)[1]))
            if page is None:
                self._json(404, {"status": "fail", "msg": "Status Page Not Found"})
            else:
                self._json(200, status_page(store, page))
        else:
            self._send(200, b"<!DOCTYPE html><title>Uptime Kuma</title>stand-in", "text/html; charset=utf-8")

    def do_POST(self) -> None:
        """Socket.IO's polling POSTs; stand-in only: /standin/setup and /standin/monitors (see README)."""
        if urlsplit(self.path).path == SOCKET_IO:
            self.server.events.io.engine.handle(self)
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        store = self.server.store
        try:
            if self.path == "/standin/setup":
                store.setup(str(body["username"]), str(body["password"]))
                self._json(200, {"ok": True, "msg": "Added Successfully."})
            elif self.path == "/standin/monitors" and self._authorized():
                self._json(200, {"ok": True, "msg": "Added Successfully.", "monitorID": store.add_monitor(body)["id"]})
            elif self.path == "/standin/monitors":
                self._challenge()
            else:
                self._json(404, {"ok": False, "msg": "Not Found"})
        except (KeyError, ValueError) as exc:
            self._json(400, {"ok": False, "msg": str(exc)})

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            username, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return self.server.store.check_first_user(username, password)

    def _challenge(self) -> None:
        self._send(401, b"", "text/html; charset=utf-8", (("WWW-Authenticate", "Basic"),))

    def _metrics_authorized(self) -> bool:
        """server/auth.js apiAuth: once any API key was made (`apiKeysEnabled`), only an API key as the Basic
        password (any user name) opens /metrics, and the user's password never again."""
        if not self.server.store.api_keys_enabled():
            return self._authorized()
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            _, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return self.server.store.check_api_key(password)

    def _metrics(self) -> None:
        if not self._metrics_authorized():
            self._challenge()
            return
        self._send(200, metrics(self.server.store).encode(), "text/plain; version=0.0.4; charset=utf-8")

    def _push(self, token: str, query: dict[str, list[str]]) -> None:
        store = self.server.store
        monitor = next((m for m in store.monitors()
                        if m["type"] == "push" and m["active"] and m["pushToken"] == token), None)
        if monitor is None:
            self._json(404, NOT_FOUND)
            return
        status = UP if query.get("status", ["up"])[-1] == "up" else DOWN
        ping_text = query.get("ping", [""])[-1]
        ping = float(ping_text) if ping_text.replace(".", "", 1).isdigit() else None
        store.add_beat(monitor["id"], status, query.get("msg", ["OK"])[-1], ping)
        self.server.checker.record_push(monitor["id"])
        self._json(200, {"ok": True})

    def _json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body, separators=(",", ":")).encode(), "application/json; charset=utf-8")

    def _send(self, status: int, payload: bytes, content_type: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class KumaServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: Store, checker: Checker) -> None:
        self.store, self.checker = store, checker
        self.events = KumaEvents(store, checker)
        super().__init__(address, Handler)
