"""A small client for Grafana's HTTP API (port 3000), signed in as the admin with HTTP Basic: health, the
provisioned datasource and its health check, dashboards by UID.

Every call is bounded by a timeout. `GrafanaUnreachable` when nothing answers, `GrafanaAuthError` when the
admin's password is refused (Grafana locks a login out after 5 failures in 5 minutes: callers ask once).
"""

from __future__ import annotations

from typing import Any

import httpx

from homelab.clients.base import HttpClient
from homelab.model.redact import basic_auth

DEFAULT_TIMEOUT = 10.0


class GrafanaError(Exception):
    """A call failed; the message names the URL and what Grafana said."""


class GrafanaUnreachable(GrafanaError):
    """Nothing answered at the URL, or not in time."""


class GrafanaAuthError(GrafanaError):
    """The admin's user name or password was refused (401)."""


class Grafana(HttpClient):
    """One Grafana, e.g. `Grafana("http://198.51.100.10:3000", "admin", password)`."""

    def __init__(self, url: str, user: str = "", password: str = "", timeout: float = DEFAULT_TIMEOUT,
                 transport: httpx.BaseTransport | None = None) -> None:
        auth = httpx.BasicAuth(*basic_auth(user, password)) if user else None
        super().__init__(url, timeout, transport, auth=auth)

    def _get(self, path: str, missing_ok: bool = False) -> Any:
        """The JSON answer of GET `path`; None for a 404 when `missing_ok`."""
        try:
            answer = self._http.get(path)
        except httpx.HTTPError as exc:
            raise GrafanaUnreachable(f"{self.base_url}{path}: no answer ({type(exc).__name__}: {exc})") from None
        if answer.status_code == 401:
            raise GrafanaAuthError(f"{self.base_url}{path}: 401, Grafana refuses the admin's user name or password")
        if answer.status_code == 404 and missing_ok:
            return None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.status_code >= 400 and not (path.endswith("/health") and isinstance(body, dict)):
            message = body.get("message") if isinstance(body, dict) else answer.text[:200]
            raise GrafanaError(f"{self.base_url}{path}: HTTP {answer.status_code}: {message}")
        return body

    def health(self) -> dict[str, Any]:
        """GET /api/health (no login): `{"database": "ok", "version": ...}` when Grafana is healthy."""
        found = self._get("/api/health")
        return found if isinstance(found, dict) else {}

    def frontend_settings(self) -> dict[str, Any]:
        """GET /api/frontend/settings: what Grafana tells its UI (`anonymousEnabled`, `disableUserSignUp`...)."""
        found: dict[str, Any] = self._get("/api/frontend/settings")
        return found

    def datasources(self) -> list[dict[str, Any]]:
        """Every datasource of the admin's organisation (needs the login: also proves the password)."""
        found = self._get("/api/datasources")
        return found if isinstance(found, list) else []

    def datasource(self, uid: str) -> dict[str, Any] | None:
        found = self._get(f"/api/datasources/uid/{uid}", missing_ok=True)
        return found if isinstance(found, dict) else None

    def datasource_health(self, uid: str) -> tuple[bool, str]:
        """(works, Grafana's message) of the datasource's own health check (a query through it)."""
        found = self._get(f"/api/datasources/uid/{uid}/health", missing_ok=True)
        if not isinstance(found, dict):
            return False, "no such datasource"
        return found.get("status") == "OK", str(found.get("message", ""))

    def dashboard(self, uid: str) -> dict[str, Any] | None:
        """`{"dashboard": ..., "meta": ...}` of the dashboard with `uid`, or None."""
        found = self._get(f"/api/dashboards/uid/{uid}", missing_ok=True)
        return found if isinstance(found, dict) else None
