"""Who may call the API: HTTP Basic with the admin user, or, with `[auth.anonymous] enabled`, anyone without
credentials as an anonymous user of `org_role` (as Grafana 11's anonymous authn client: it applies only to a
request that carries no credentials; wrong ones are still refused). Refusals carry Grafana 11's error bodies.

Grafana's brute-force protection is kept: after 5 failed logins for one user within 5 minutes, every login
of that user (even a correct one) fails until the oldest failure is 5 minutes old.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from gf_settings import Settings
from gf_store import Store

MAX_ATTEMPTS = 5
WINDOW_SECONDS = 300.0
Refusal = tuple[int, dict[str, Any]]


def _error(status: int, message_id: str, message: str) -> Refusal:
    return status, {"extra": None, "message": message, "messageId": message_id, "statusCode": status,
                    "traceID": ""}


@dataclass(frozen=True)
class Identity:
    """Who a request is: the admin (org Admin and Grafana server admin), or an anonymous user with a role."""

    login: str
    role: str
    server_admin: bool
    anonymous: bool


UNAUTHORIZED = _error(401, "auth.unauthorized", "Unauthorized")
BAD_PASSWORD = _error(401, "password-auth.failed", "Invalid username or password")
BAD_HEADER = _error(400, "basic-auth.invalid-header", "Invalid Basic Auth Header")
BAD_TOKEN = _error(401, "api-key.invalid", "Invalid API key")


class Authenticator:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store = settings, store
        self.failures: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def identify(self, header: str) -> Identity | Refusal:
        """The identity the Authorization header (or its absence) gives, else Grafana's status and body."""
        if not header.strip() and self.settings.anonymous:
            return Identity("", self.settings.anonymous_role, server_admin=False, anonymous=True)
        refused = self.refusal(header)
        if refused is not None:
            return refused
        return Identity(str(self.store.user.get("login", "admin")), "Admin", server_admin=True, anonymous=False)

    def refusal(self, header: str) -> Refusal | None:
        """None when the Authorization header signs the admin in, else Grafana's status and body."""
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            return BAD_TOKEN  # no service accounts in the stand-in
        if scheme.lower() != "basic" or not self.settings.basic_auth:
            return UNAUTHORIZED
        try:
            login, separator, password = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return BAD_HEADER
        if not separator:
            return BAD_HEADER
        return None if self._login(login, password) else BAD_PASSWORD

    def _login(self, login: str, password: str) -> bool:
        with self.lock:
            recent = self.failures[login]
            while recent and recent[0] < time.monotonic() - WINDOW_SECONDS:
                recent.popleft()
            if self.settings.brute_force_protection and len(recent) >= MAX_ATTEMPTS:
                return False
            if self.store.check_password(login, password):
                return True
            recent.append(time.monotonic())
            return False
