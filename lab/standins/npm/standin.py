"""Nginx Proxy Manager stand-in: the admin API on 81 driving a real nginx on 80/443; state in the data directory.

Environment: INITIAL_ADMIN_EMAIL / INITIAL_ADMIN_PASSWORD (first start), DISABLE_IPV6, and STANDIN_BIND,
STANDIN_ADMIN_PORT, STANDIN_HTTP_PORT, STANDIN_HTTPS_PORT, STANDIN_DATA_DIR, STANDIN_NPM_VERSION,
STANDIN_NGINX (see README.md).
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

sys.path.append(str(Path(__file__).resolve().parents[1] / "common"))  # standin_serve (an image has it beside this file)

from npm_api import Api, Request
from npm_auth import Tokens
from npm_nginx import Listen, Nginx
from npm_store import ApiError, Store
from standin_serve import serve_until_signal

ADMIN_PAGE = b"<!DOCTYPE html><html><head><title>Nginx Proxy Manager</title></head><body>stand-in</body></html>"
MAX_BODY = 10 * 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    server: AdminServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_BODY)) if length else b""
        if not url.path.startswith("/api"):
            self._send(200, ADMIN_PAGE, "text/html; charset=utf-8")
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(self.command, url.path.rstrip("/") or "/api", query, headers, body)
        try:
            status, result = self.server.api.handle(request)
        except ApiError as exc:
            status, result = exc.status, {"error": {"code": exc.status, "message": str(exc)}}
        self._send(status, json.dumps(result, separators=(",", ":")).encode(), "application/json; charset=utf-8")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Powered-By", "Nginx Proxy Manager (lab stand-in)")
        self.end_headers()
        self.wfile.write(payload)


class AdminServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: Api) -> None:
        self.api = api
        super().__init__(address, Handler)


def parse_version(text: str) -> tuple[int, int, int]:
    major, minor, revision = (int(part) for part in text.split("."))
    return major, minor, revision


def first_user(store: Store, version: tuple[int, int, int], env: dict[str, str]) -> None:
    """2.12: admin@example.com / changeme unless INITIAL_ADMIN_* are set; 2.13+: a user only if both are set."""
    if store.rows("users"):
        return
    email, password = env.get("INITIAL_ADMIN_EMAIL"), env.get("INITIAL_ADMIN_PASSWORD")
    if email and password:
        store.add_user(email, password)
    elif version < (2, 13, 0):
        store.add_user("admin@example.com", "changeme")


def build(env: dict[str, str]) -> tuple[Api, Nginx, tuple[str, int]]:
    data_dir = Path(env.get("STANDIN_DATA_DIR", "/data"))
    data_dir.mkdir(parents=True, exist_ok=True)
    bind = env.get("STANDIN_BIND", "0.0.0.0")  # noqa: S104 - a container serves every interface it has
    listen = Listen(bind, int(env.get("STANDIN_HTTP_PORT", "80")), int(env.get("STANDIN_HTTPS_PORT", "443")))
    ipv6 = env.get("DISABLE_IPV6", "").lower() not in ("true", "1", "yes", "on")
    nginx = Nginx(data_dir, listen, env.get("STANDIN_NGINX", "nginx"), ipv6)
    version = parse_version(env.get("STANDIN_NPM_VERSION", "2.12.6"))
    store = Store(data_dir)
    first_user(store, version, env)
    api = Api(store, Tokens(data_dir), nginx, data_dir, version)
    for host in store.rows("proxy_hosts"):
        api.apply(host)
    return api, nginx, (bind, int(env.get("STANDIN_ADMIN_PORT", "81")))


def main() -> None:
    api, nginx, address = build(dict(os.environ))
    nginx.start()
    server = AdminServer(address, api)
    print(f"npm stand-in: API http://{address[0]}:{address[1]}/api/, nginx on {nginx.listen}", flush=True)
    serve_until_signal([server])
    nginx.stop()  # the nginx child: SIGQUIT (graceful), SIGKILL after 5 s


if __name__ == "__main__":
    main()
