"""Logged-in API sessions for the steps that drive a service's API, opened on first use (a dry run before
deploy opens none): `Session`, what each shares, and NPM's and Technitium's for the DNS and proxy steps (phase 4
has Uptime Kuma's).

Checks ask with `wait=False`: a service that does not answer yet is simply "not done" (the dry run says
"would"). Applies ask with `wait=True`: right after the stack deploys, the API may need a moment, so they
retry connecting for up to `READY_WAIT` seconds, then fail naming the address. Any API error inside a step
becomes `StepFailed` with the service's own message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from bootstrap.steps import StepFailed
from homelab.clients import connect
from homelab.clients.base import Closing
from homelab.clients.npm import Npm, NpmError, NpmUnreachable
from homelab.clients.technitium import Technitium, TechnitiumError, TechnitiumUnreachable
from homelab.model.inventory import Inventory
from homelab.model.secrets import SecretError, Secrets

READY_WAIT = 90.0
RETRY_EVERY = 2.0

T = TypeVar("T")
C = TypeVar("C", bound=Closing)
Unreachable = (TechnitiumUnreachable, NpmUnreachable)


def retry(connect: Callable[[], T], wait: bool,
          unreachable: type[Exception] | tuple[type[Exception], ...] = Unreachable) -> T:
    """`connect()`; with `wait`, again every RETRY_EVERY seconds while it raises `unreachable`, for up to
    READY_WAIT seconds."""
    deadline = time.monotonic() + (READY_WAIT if wait else 0)
    while True:
        try:
            return connect()
        except unreachable:
            if time.monotonic() >= deadline:
                raise
            time.sleep(RETRY_EVERY)


class Session(Generic[C]):
    """One signed-in client of a service's API for the whole run, opened on first use: `open` connects (waiting
    for the service with `wait`), `sign_in` logs the new client in; a client that fails to sign in is closed."""

    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets
        self._client: C | None = None

    def open(self, wait: bool) -> C:
        raise NotImplementedError

    def sign_in(self, client: C, wait: bool) -> None:
        raise NotImplementedError

    def get(self, wait: bool = False) -> C:
        if self._client is None:
            client = self.open(wait)
            try:
                self.sign_in(client, wait)
            except BaseException:
                client.close()
                raise
            self._client = client
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class TechnitiumSession(Session[Technitium]):
    """Technitium (homelab.clients.connect), logged in as admin with TECHNITIUM_ADMIN_PASSWORD."""

    def __init__(self, inventory: Inventory, secrets: Secrets) -> None:
        super().__init__(secrets)
        self.inventory = inventory
        self.timeout = max(inventory.settings.connect_timeout, 10.0)

    def open(self, wait: bool) -> Technitium:
        return connect.technitium(self.inventory, None, timeout=self.timeout)

    def sign_in(self, client: Technitium, wait: bool) -> None:
        user, password = connect.credentials("technitium", self.secrets)
        retry(lambda: client.login(user, password), wait)


class NpmSession(Session[Npm]):
    """NPM's admin API (homelab.clients.connect), logged in with NPM_ADMIN_EMAIL / NPM_ADMIN_PASSWORD once it
    answers (its version, which the certificate requests depend on)."""

    def __init__(self, inventory: Inventory, secrets: Secrets) -> None:
        super().__init__(secrets)
        self.inventory = inventory
        self.timeout = max(inventory.settings.connect_timeout, 15.0)
        self.version: tuple[int, int, int] = (0, 0, 0)

    def open(self, wait: bool) -> Npm:
        return connect.npm(self.inventory, None, timeout=self.timeout)

    def sign_in(self, client: Npm, wait: bool) -> None:
        email, password = connect.credentials("npm", self.secrets)
        self.version = retry(client.version, wait)
        client.login(email, password)
        client.remember_reads()  # one run's checks ask the same lists for every name; a change forgets them


Errors = type[Exception] | tuple[type[Exception], ...]


def checked_by(not_done: Errors, failed: Errors) -> Callable[[Callable[[], bool]], Callable[[], bool]]:
    """`checked(check)` for a check that calls an API: the errors `not_done` make it "not done" (False), the
    errors `failed` fail the step with the service's message."""
    def checked(check: Callable[[], bool]) -> Callable[[], bool]:
        def run() -> bool:
            try:
                return check()
            except not_done:
                return False
            except failed as exc:
                raise StepFailed(str(exc)) from None
        return run
    return checked


def applied_by(failed: Errors, limit: int | None = None) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """`applied(apply)` for an apply that calls an API: the errors `failed` fail the step with the service's
    message (its first `limit` characters)."""
    def applied(apply: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                apply()
            except failed as exc:
                raise StepFailed(str(exc)[:limit]) from None
        return run
    return applied


# NPM's and Technitium's: an unreachable service is "not done"; any other API error fails the step.
checked = checked_by(Unreachable, (TechnitiumError, NpmError, SecretError))
applied = applied_by((TechnitiumError, NpmError, SecretError))
