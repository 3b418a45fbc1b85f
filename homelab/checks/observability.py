"""Prometheus, Grafana and Uptime Kuma as the phase 4 specs see them, each asked once per run.

Each view reaches its service from this machine (LAN) through homelab.clients.connect, as bootstrap does, and
turns a failure to ask it into one readable spec failure (expected / found / where / fix). Uptime Kuma: the monitors
over its Socket.IO API (signed in as `admin` with UPTIME_KUMA_PASSWORD), their state from its /metrics: Basic
auth with the same user while Kuma has never had an API key, else with UPTIME_KUMA_API_KEY as the password (Kuma
1.23's `apiKeysEnabled`, set by the first key and never cleared, makes /metrics refuse the user's password).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import httpx
import pytest

from homelab.checks import could_not_observe, problem
from homelab.clients import connect
from homelab.clients.grafana import Grafana, GrafanaAuthError, GrafanaError
from homelab.clients.prometheus import ActiveTarget, PrometheusError
from homelab.clients.uptimekuma import Monitor, UptimeKumaError
from homelab.model import monitoring
from homelab.model.inventory import Inventory
from homelab.model.redact import basic_auth
from homelab.model.secrets import SecretError, Secrets

T = TypeVar("T")
PHASE4 = "`python -m bootstrap phase4`"
KUMA_STATES = {"0": "down", "1": "up", "2": "pending (failing, retrying)", "3": "in maintenance"}


def fail(expected: str, found: str, where: str, fix: str) -> NoReturn:
    __tracebackhide__ = True
    pytest.fail(problem(expected=expected, found=found, where=where, fix=fix), pytrace=False)


def unobserved(why: str, url: str, fix: str) -> NoReturn:
    """A service that could not be asked: the spec fails as could not observe, with the fix."""
    __tracebackhide__ = True
    pytest.fail(f"{could_not_observe(why, url, 'this machine')}; fix: {fix}", pytrace=False)


class _Cached:
    """Answers asked once per run; a failure to ask is remembered and fails every spec that needs it."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    def cached(self, key: str, ask: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._cache:
                try:
                    self._cache[key] = ask()
                except Exception as exc:  # remembered: the same failure for every spec that asks
                    self._cache[key] = exc
        found = self._cache[key]
        if isinstance(found, Exception):
            raise found
        return found  # type: ignore[no-any-return]


class PrometheusView(_Cached):
    def __init__(self, inventory: Inventory) -> None:
        super().__init__()
        self.url = connect.url(inventory, "prometheus")
        self.client = connect.prometheus(inventory)

    def targets(self) -> dict[tuple[str, str], ActiveTarget]:
        """(job, ADDRESS:PORT) -> the active target."""
        __tracebackhide__ = True
        try:
            found = self.cached("targets", self.client.targets)
        except PrometheusError as exc:
            fail("Prometheus answering /api/v1/targets", str(exc), self.url, f"start Prometheus: {PHASE4}")
        return {(t.job, t.instance): t for t in found}

    def close(self) -> None:
        self.client.close()


class GrafanaView:
    def __init__(self, inventory: Inventory, secrets: Secrets) -> None:
        self.url = connect.url(inventory, "grafana")
        self.inventory, self.secrets = inventory, secrets
        self._client: Grafana | None = None

    def client(self) -> Grafana:
        __tracebackhide__ = True
        if self._client is None:
            try:
                self._client = connect.grafana(self.inventory, self.secrets)
            except SecretError as exc:
                fail("GRAFANA_ADMIN_PASSWORD in the env file", str(exc), self.url, "set it (bootstrap phase 4 uses it)")
        return self._client

    def ask(self, what: str, call: Callable[[Grafana], T]) -> T:
        """`call(client)`, or one readable failure: refused password, no answer, or Grafana's error."""
        __tracebackhide__ = True
        try:
            return call(self.client())
        except GrafanaAuthError as exc:
            unobserved(f"Grafana refused {monitoring.GRAFANA_USER} with GRAFANA_ADMIN_PASSWORD, so {what} was not "
                       f"read ({exc})", self.url,
                       "set GRAFANA_ADMIN_PASSWORD to Grafana's admin password (Grafana reads "
                       "GF_SECURITY_ADMIN_PASSWORD only when it creates its database), or reset it: `docker exec "
                       "grafana grafana cli admin reset-admin-password NEW`")
        except GrafanaError as exc:
            unobserved(f"Grafana did not answer {what} ({exc})", self.url,
                       f"start Grafana: {PHASE4}; `docker logs grafana`")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class KumaView(_Cached):
    def __init__(self, inventory: Inventory, secrets: Secrets) -> None:
        super().__init__()
        self.url = connect.url(inventory, "uptime-kuma")
        self.inventory, self.secrets = inventory, secrets
        self.timeout = max(inventory.settings.connect_timeout * 3, 10.0)

    def _password(self) -> str:
        __tracebackhide__ = True
        try:
            return self.secrets.get("UPTIME_KUMA_PASSWORD")
        except SecretError as exc:
            fail("UPTIME_KUMA_PASSWORD in the env file", str(exc), self.url, "set it (bootstrap phase 4 uses it)")

    def _monitors(self) -> dict[str, list[Monitor]]:
        self._password()  # a missing one fails the spec as such, before Kuma is asked
        with connect.uptime_kuma(self.inventory, self.secrets, timeout=self.timeout) as kuma:
            found: dict[str, list[Monitor]] = {}
            for m in kuma.monitors():
                found.setdefault(m.name, []).append(m)
            return found

    def monitors(self) -> dict[str, list[Monitor]]:
        """name -> the monitors of that name (Kuma allows several)."""
        __tracebackhide__ = True
        try:
            return self.cached("monitors", self._monitors)
        except UptimeKumaError as exc:
            fail(f"Uptime Kuma's monitors, signed in as {monitoring.KUMA_USER}", str(exc), self.url,
                 f"start Uptime Kuma (phase 1), then {PHASE4} (it sets up the user with UPTIME_KUMA_PASSWORD)")

    def _metrics_auth(self) -> tuple[str, str]:
        """Basic credentials for /metrics: an API key (empty user name) when UPTIME_KUMA_API_KEY is set."""
        __tracebackhide__ = True
        if self.secrets.has(KUMA_API_KEY):
            try:
                return "", self.secrets.get(KUMA_API_KEY)
            except SecretError as exc:
                fail(f"{KUMA_API_KEY} in the env file", str(exc), self.url, "set it to a key from Uptime Kuma's "
                     "Settings > API Keys, or remove it to use UPTIME_KUMA_PASSWORD")
        return monitoring.KUMA_USER, self._password()

    def _states(self) -> dict[str, str]:
        user, password = self._metrics_auth()
        answer = httpx.get(f"{self.url}/metrics", auth=basic_auth(user, password), timeout=self.timeout)
        if answer.status_code == 401:
            raise KumaMetricsRefused(metrics_refusal(self.url, with_key=bool(not user)))
        if answer.status_code != 200:
            raise UptimeKumaError(f"{self.url}/metrics: HTTP {answer.status_code}")
        return parse_states(answer.text)

    def states(self) -> dict[str, str]:
        """monitor name -> `up`, `down`, `pending ...` from Kuma's /metrics (monitors with a heartbeat)."""
        __tracebackhide__ = True
        try:
            return self.cached("states", self._states)
        except KumaMetricsRefused as exc:
            fail("Uptime Kuma's /metrics", str(exc), self.url, METRICS_KEY_FIX)
        except (UptimeKumaError, httpx.HTTPError) as exc:
            fail("Uptime Kuma's /metrics", str(exc), self.url, "start Uptime Kuma; check UPTIME_KUMA_PASSWORD")


KUMA_API_KEY = "UPTIME_KUMA_API_KEY"
METRICS_KEY_FIX = (f"API keys are enabled in Uptime Kuma: set {KUMA_API_KEY} in the env file to a key from Kuma's "
                   "Settings > API Keys (Add API Key; it is shown once), or check the one set is active and not "
                   "expired")


class KumaMetricsRefused(UptimeKumaError):
    """/metrics answered 401: the password once API keys exist, or a key Kuma does not accept."""


def metrics_refusal(url: str, with_key: bool) -> str:
    """What a 401 from /metrics means: Kuma 1.23 takes only API keys there once one was ever made
    (server/auth.js apiAuth, `apiKeysEnabled`), so a refused password almost always means API keys are enabled."""
    if with_key:
        return (f"{url}/metrics: HTTP 401: the API key in {KUMA_API_KEY} was refused (deleted, disabled or expired "
                "in Uptime Kuma, or not a key of this Kuma)")
    return (f"{url}/metrics: HTTP 401 for the admin password: API keys are enabled in Uptime Kuma (once any key "
            f"has been added, /metrics takes only an API key), and {KUMA_API_KEY} is not set")


def parse_states(text: str) -> dict[str, str]:
    """`monitor_status{monitor_name="X",...} 1` lines -> {"X": "up"}."""
    found = {}
    for line in text.splitlines():
        if not line.startswith("monitor_status{") or 'monitor_name="' not in line:
            continue
        name = line.split('monitor_name="', 1)[1].split('"', 1)[0].replace('\\"', '"').replace("\\\\", "\\")
        value = line.rsplit(" ", 1)[1].split(".")[0]
        found[name] = KUMA_STATES.get(value, f"status {value}")
    return found

