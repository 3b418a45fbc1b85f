"""The Portainer API application: admin-init monitor, CSRF gate, request bouncer, then the routes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pt_routes_auth as routes_auth
import pt_routes_edge as routes_edge
import pt_routes_edgeagent as routes_edgeagent
import pt_routes_edgejobs as routes_edgejobs
import pt_routes_edgestacks as routes_edgestacks
import pt_routes_endpoints as routes_endpoints
import pt_routes_misc as routes_misc
import pt_routes_stacks as routes_stacks
from pt_gitops import Scheduler
from pt_keys import AgentSigner, api_key_digest, ensure_tls, jwt_decode
from pt_routes_endpoints import settings_defaults
from pt_store import Store
from pt_web import HttpError, Request, Response, Router, json_response

VERSION = "2.23.0"
AUTH_COOKIE = "portainer_api_key"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
log = logging.getLogger("portainer")


@dataclass
class Config:
    data_dir: Path
    agent_secret: str = ""
    admin_init_timeout: float = 300.0
    snapshot_interval: float = 300.0
    edge_checkin: int = 5  # EdgeAgentCheckinInterval
    heartbeat_slack: int = 20  # the "+ 20" of UpdateEdgeEndpointHeartbeat
    tunnel_port: int = 8000
    edge_compute: bool = False  # --edge-compute


class App:
    def __init__(self, config: Config) -> None:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.store = Store(config.data_dir)
        with self.store.tx() as db:  # updateSettingsFromFlags: kingpin's Bool() is never nil, so every start resets it
            db["settings"] = settings_defaults() | (db.get("settings") or {})
            db["settings"]["EnableEdgeComputeFeatures"] = config.edge_compute
        self.signer = AgentSigner(config.data_dir, config.agent_secret)
        self.tls_files = ensure_tls(config.data_dir)
        self.started = time.monotonic()
        self.locked = False
        self.admin_seen = False
        secret = bytes.fromhex(self.store.data["jwt_secret"])
        self.jwt_secret = secret
        self.csrf_token = base64.b64encode(hmac.new(secret, b"csrf", hashlib.sha256).digest()).decode()
        self.router = Router()
        self.gitops = Scheduler(self)
        for module in (routes_auth, routes_endpoints, routes_misc, routes_stacks, routes_edge, routes_edgestacks,
                       routes_edgejobs, routes_edgeagent):
            module.register(self)

    def handle(self, req: Request) -> Response:
        try:
            response = self._dispatch(req)
        except HttpError as exc:
            response = exc.response()
        if 200 <= response.status < 300 and req.path.startswith("/api/"):
            response.headers.append(("X-CSRF-Token", self.csrf_token))
        return response

    def admin_locked(self) -> bool:
        """adminmonitor: no admin within the window disables the instance until a restart."""
        if self.locked or self.admin_seen or time.monotonic() - self.started <= self.config.admin_init_timeout:
            return self.locked
        if self.store.has_admin():
            self.admin_seen = True
            return False
        self.locked = True
        log.error("no administrator account was created within %ss: the instance is disabled until restart",
                  self.config.admin_init_timeout)
        return True

    def _dispatch(self, req: Request) -> Response:
        if self.admin_locked():
            return json_response({"message": "Administrator initialization timeout"}, 303,
                                 [("redirect-reason", "AdminInitTimeout")])
        csrf = self._csrf(req)
        if csrf is not None:
            return csrf
        if not req.path.startswith("/api/"):
            if req.method == "GET" and req.path in ("/", "/index.html"):
                page = b"<!doctype html><title>Portainer</title><p>Portainer CE 2.23.0 stand-in</p>\n"
                return Response(200, page, [("Content-Type", "text/html; charset=utf-8")])
            raise HttpError(404, "Not Found")
        route, req.params = self.router.match(req.method, req.path)
        if route.access != "public":
            self.authenticate(req)
            if route.access == "admin" and (req.user or {}).get("Role") != 1:
                raise HttpError(403, "Access denied", "Unauthorized")
        return route.handler(req)

    def _csrf(self, req: Request) -> Response | None:
        """gorilla/csrf runs only for requests carrying the auth cookie; header-only auth skips it."""
        if req.cookies.get(AUTH_COOKIE):
            if req.method in SAFE_METHODS:
                return None
            token = req.headers.get("X-CSRF-Token", "")
            reason = "CSRF token not found in request" if not token else "CSRF token invalid"
            if token and hmac.compare_digest(token, self.csrf_token):
                return None
            return Response(403, f"Forbidden - {reason}\n".encode(), [
                ("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")])
        if req.headers.get("X-API-Key") and req.headers.get("Authorization"):
            raise HttpError(403, "api key and auth header are not allowed at the same time",
                            "api key and auth header are not allowed at the same time")
        return None

    def authenticate(self, req: Request) -> None:
        """Lookups in the bouncer's order: API key, cookie, bearer; the first one found decides."""
        user_id: int | None = None
        for lookup in (self._api_key_lookup, self._cookie_lookup, self._bearer_lookup):
            user_id = lookup(req)
            if user_id is not None:
                break
        if user_id is None:
            raise HttpError(401, "A valid authorization token is missing", "Unauthorized")
        user = self.store.get("users", user_id)
        if user is None:
            raise HttpError(401, "The authorization token is invalid", "Unauthorized")
        req.user = user

    def _api_key_lookup(self, req: Request) -> int | None:
        raw = req.headers.get("X-API-Key") or next(
            (values[0] for name, values in req.query.items() if name.lower() == "x-api-key"), "")
        if not raw:
            return None
        digest = api_key_digest(raw)
        with self.store.tx() as db:
            key = next((k for k in db["api_keys"].values() if k["digest"] == digest), None)
            if key is None:
                raise HttpError(401, "Invalid JWT token", "Unauthorized")
            if time.time() - key["lastUsed"] > 60:
                key["lastUsed"] = int(time.time())
        req.auth_kind = "apikey"
        return int(key["userId"])

    def _jwt_user(self, req: Request, token: str) -> int:
        claims = jwt_decode(self.jwt_secret, token)
        if claims is None:
            raise HttpError(401, "Invalid JWT token", "Unauthorized")
        req.auth_kind = "jwt"
        return int(claims["id"])

    def _cookie_lookup(self, req: Request) -> int | None:
        cookies = req.cookies
        return self._jwt_user(req, cookies[AUTH_COOKIE]) if AUTH_COOKIE in cookies else None

    def _bearer_lookup(self, req: Request) -> int | None:
        token = req.arg("token") or req.headers.get("Authorization", "")
        if not token and "Authorization" not in req.headers:
            return None
        return self._jwt_user(req, token.removeprefix("Bearer "))

    def now(self) -> int:
        return int(time.time())

    def endpoint_or_404(self, ident: int) -> dict[str, Any]:
        endpoint = self.store.get("endpoints", ident)
        if endpoint is None:
            raise HttpError(404, "Unable to find an environment with the specified identifier inside the database",
                            "Object not found inside the database")
        return endpoint
