"""Logged-in NPM and Technitium API sessions for the DNS and proxy steps, opened on first use (a dry run before
deploy opens none).

Checks ask with `wait=False`: a service that does not answer yet is simply "not done" (the dry run says
"would"). Applies ask with `wait=True`: right after the stack deploys, the API may need a moment, so they
retry connecting for up to `READY_WAIT` seconds, then fail naming the address. Any API error inside a step
becomes `StepFailed` with the service's own message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from bootstrap.steps import StepFailed
from homelab.clients import npm, technitium
from homelab.clients.npm import Npm, NpmError, NpmUnreachable
from homelab.clients.technitium import Technitium, TechnitiumError, TechnitiumUnreachable
from homelab.model.inventory import Inventory
from homelab.model.secrets import SecretError, Secrets

READY_WAIT = 90.0
RETRY_EVERY = 2.0
TECHNITIUM_USER = "admin"

T = TypeVar("T")
Unreachable = (TechnitiumUnreachable, NpmUnreachable)


def _retry(connect: Callable[[], T], wait: bool) -> T:
    deadline = time.monotonic() + (READY_WAIT if wait else 0)
    while True:
        try:
            return connect()
        except Unreachable:
            if time.monotonic() >= deadline:
                raise
            time.sleep(RETRY_EVERY)


class TechnitiumSession:
    """Technitium on the platform host, logged in as admin with TECHNITIUM_ADMIN_PASSWORD."""

    def __init__(self, inventory: Inventory, secrets: Secrets) -> None:
        self.url = f"http://{inventory.platform_host.address}:{inventory.upstream_port('technitium', technitium.PORT)}"
        self.timeout = max(inventory.settings.connect_timeout, 10.0)
        self.secrets = secrets
        self._client: Technitium | None = None

    def get(self, wait: bool) -> Technitium:
        if self._client is None:
            password = self.secrets.get("TECHNITIUM_ADMIN_PASSWORD")
            client = Technitium(self.url, timeout=self.timeout)
            try:
                _retry(lambda: client.login(TECHNITIUM_USER, password), wait)
            except TechnitiumError:
                client.close()
                raise
            self._client = client
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class NpmSession:
    """NPM's admin API on the platform host, logged in with NPM_ADMIN_EMAIL / NPM_ADMIN_PASSWORD."""

    def __init__(self, inventory: Inventory, secrets: Secrets) -> None:
        self.url = f"http://{inventory.platform_host.address}:{inventory.upstream_port('npm', npm.PORT)}"
        self.timeout = max(inventory.settings.connect_timeout, 15.0)
        self.secrets = secrets
        self._client: Npm | None = None
        self.version: tuple[int, int, int] = (0, 0, 0)

    def get(self, wait: bool) -> Npm:
        if self._client is None:
            email, password = self.secrets.get("NPM_ADMIN_EMAIL"), self.secrets.get("NPM_ADMIN_PASSWORD")
            client = Npm(self.url, timeout=self.timeout)
            try:
                self.version = _retry(client.version, wait)
                client.login(email, password)
            except NpmError:
                client.close()
                raise
            self._client = client
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def checked(check: Callable[[], bool]) -> Callable[[], bool]:
    """A check that calls an API: an unreachable service is "not done"; other errors fail the step."""
    def run() -> bool:
        try:
            return check()
        except Unreachable:
            return False
        except (TechnitiumError, NpmError, SecretError) as exc:
            raise StepFailed(str(exc)) from None
    return run


def applied(apply: Callable[[], None]) -> Callable[[], None]:
    """An apply that calls an API: any API error fails the step with the service's message."""
    def run() -> None:
        try:
            apply()
        except (TechnitiumError, NpmError, SecretError) as exc:
            raise StepFailed(str(exc)) from None
    return run
