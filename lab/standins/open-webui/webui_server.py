"""Open WebUI v0.6.5's unauthenticated HTTP routes (backend/open_webui/main.py, routers/ollama.py), as FastAPI
under uvicorn answers them; every other GET gets the single-page app's index, as the real image serves it."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import webui_ollama
from webui_db import Database
from webui_settings import Settings

VERSION = "0.6.5"
INDEX = (b'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Open WebUI</title></head>'
         b"<body><p>Open WebUI (lab stand-in): no user interface here.</p></body></html>\n")
API_PATHS = ("/health", "/health/db", "/ready", "/api/version", "/api/config", "/ollama/api/version")
# Routes behind get_verified_user / get_admin_user (backend/open_webui/utils/auth.py, v0.6.5): without a bearer token
# or `token` cookie, get_current_user raises HTTPException(403, "Not authenticated"). The stand-in has no users.
LOGIN_PATHS = ("/api/models", "/api/v1/users/", "/api/v1/chats/", "/api/v1/auths/", "/api/v1/configs/export")


class WebUIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings, self.database = settings, database
        super().__init__((settings.host, settings.port), Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: WebUIServer

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        routes: dict[str, Callable[[], tuple[int, Any]]] = {
            "/health": lambda: (200, {"status": True}), "/health/db": self._health_db, "/ready": self._ready,
            "/api/version": lambda: (200, {"version": VERSION}), "/api/config": self._config,
            "/ollama/api/version": self._ollama_version}
        if path in routes:
            self._json(*routes[path]())
        elif path in LOGIN_PATHS:
            self._json(403, {"detail": "Not authenticated"})
        elif path.startswith("/ollama/api/version/"):
            self._json(*self._ollama_version_at(path.rsplit("/", 1)[1]))
        else:
            self._send(200, INDEX, "text/html; charset=utf-8")

    def do_HEAD(self) -> None:
        """FastAPI's GET routes refuse HEAD; the single-page app's files answer it."""
        path = self.path.split("?")[0]
        if path in API_PATHS or path in LOGIN_PATHS or path.startswith("/ollama/api/version/"):
            body = b'{"detail":"Method Not Allowed"}'
            self._send(405, body, "application/json", with_body=False)
        else:
            self._send(200, INDEX, "text/html; charset=utf-8", with_body=False)

    def do_POST(self) -> None:
        self._json(405, {"detail": "Method Not Allowed"})

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _health_db(self) -> tuple[int, Any]:
        # upstream lets the database error escape: Starlette's plain 500
        return (200, {"status": True}) if self.server.database.ping() else (500, None)

    def _ready(self) -> tuple[int, Any]:
        if not self.server.database.ping():
            return 503, {"detail": "Database not ready"}
        return 200, {"status": True}

    def _config(self) -> tuple[int, Any]:
        """What a visitor without a session sees; no account exists, so the first one is the admin (onboarding)."""
        settings = self.server.settings
        return 200, {"onboarding": True, "status": True, "name": settings.name, "version": VERSION,
                     "default_locale": "", "oauth": {"providers": {}}, "features": dict(settings.features)}

    def _ollama_version(self) -> tuple[int, Any]:
        """The lowest version among the Ollama backends, {"version": false} when the Ollama API is off."""
        settings = self.server.settings
        if not settings.enable_ollama_api:
            return 200, {"version": False}
        version = webui_ollama.lowest_version(settings.ollama_urls)
        return (200, {"version": version}) if version else (500, {"detail": webui_ollama.NOT_FOUND})

    def _ollama_version_at(self, index: str) -> tuple[int, Any]:
        urls = self.server.settings.ollama_urls
        if not index.isdigit():
            return 422, {"detail": [{"type": "int_parsing", "loc": ["path", "url_idx"],
                                     "msg": "Input should be a valid integer, unable to parse string as an integer",
                                     "input": index}]}
        if int(index) >= len(urls):
            return 500, None
        answer = webui_ollama.get_json(f"{urls[int(index)]}/api/version")
        return (200, answer) if answer is not None else (500, {"detail": "Open WebUI: Server Connection Error"})

    def _json(self, status: int, value: Any) -> None:
        if value is None:
            self._send(status, b"Internal Server Error", "text/plain; charset=utf-8")
        else:
            self._send(status, json.dumps(value, separators=(",", ":")).encode(), "application/json")

    def _send(self, status: int, payload: bytes, content_type: str, *, with_body: bool = True) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if with_body:
            self.wfile.write(payload)

    def send_response(self, code: int, message: str | None = None) -> None:
        """uvicorn's headers (`date`, `server: uvicorn`) and its access-log line."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("date", self.date_time_string())
        self.send_header("server", "uvicorn")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        phrase = self.responses.get(int(code), ("",))[0] if str(code).isdigit() else ""
        host, port = self.client_address[:2]
        print(f'INFO:     {host}:{port} - "{self.command} {self.path} {self.request_version}" {code} {phrase}',
              file=sys.stderr, flush=True)
