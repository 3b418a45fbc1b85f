"""A small client for Prometheus' HTTP API (port 9090): readiness and the active scrape targets.

Every call is bounded by a timeout; a failure to connect or an answer that is not what the API documents
becomes `PrometheusError` naming the URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from homelab.clients.base import HttpClient

DEFAULT_TIMEOUT = 10.0


class PrometheusError(Exception):
    """Prometheus could not be asked, or answered something else than its API documents."""


@dataclass(frozen=True)
class ActiveTarget:
    """One target Prometheus scrapes: its job, address (`instance`), health (`up`, `down`, `unknown`), labels."""

    job: str
    instance: str
    health: str
    last_error: str
    labels: dict[str, str]

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> ActiveTarget:
        labels = {str(k): str(v) for k, v in (item.get("labels") or {}).items()}
        return cls(job=labels.get("job", ""), instance=labels.get("instance", ""), health=str(item.get("health")),
                   last_error=str(item.get("lastError") or ""), labels=labels)


class Prometheus(HttpClient):
    """One Prometheus, e.g. `Prometheus("http://198.51.100.10:9090")`."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT, transport: httpx.BaseTransport | None = None):
        super().__init__(url, timeout, transport)

    def _get(self, path: str, **params: str) -> httpx.Response:
        try:
            return self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise PrometheusError(f"{self.base_url}{path}: no answer ({type(exc).__name__}: {exc})") from None

    def ready(self) -> bool:
        """GET /-/ready answers 200 (it answers 503 while the TSDB is still loading)."""
        return self._get("/-/ready").status_code == 200

    def targets(self) -> list[ActiveTarget]:
        """The active targets of every job (GET /api/v1/targets?state=active)."""
        answer = self._get("/api/v1/targets", state="active")
        try:
            data = answer.json()
            items = data["data"]["activeTargets"]
        except (ValueError, KeyError, TypeError):
            raise PrometheusError(f"{self.base_url}/api/v1/targets: HTTP {answer.status_code}, not Prometheus' "
                                  "targets document") from None
        return [ActiveTarget.from_json(item) for item in items]
