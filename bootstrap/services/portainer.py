"""Portainer's admin (inside its init window) and an API token in the env file: phase 1's step 4, and the
`PortainerAccess` that every later phase signs in with.

Portainer's certificate is pinned: on first contact its SHA-256 fingerprint is recorded in the env file as
PORTAINER_TLS_FINGERPRINT (trust on first use, announced); afterwards a different certificate is refused.
The step is done when the stored PORTAINER_API_TOKEN authenticates GET /api/users/me (never /api/system/version,
which hands an admin the container's environment).
"""

from __future__ import annotations

import os
import time

from bootstrap.remote import Remote
from bootstrap.steps import Step, StepFailed
from homelab.clients import connect
from homelab.clients.portainer import (
    FINGERPRINT_VAR,
    TOKEN_VAR,
    AdminInitTimeout,
    Portainer,
    PortainerError,
    PortainerUnreachable,
    server_fingerprint,
)
from homelab.model.envfile import set_values
from homelab.model.secrets import read_env_file

PASSWORD_VAR = "PORTAINER_ADMIN_PASSWORD"  # noqa: S105 - the secret's name
TOKEN_DESCRIPTION = "homelab-bootstrap"  # noqa: S105 - a label
TIMEOUT = 10.0  # each call (a Git stack's deploy waits DEPLOY_TIMEOUT)


class PortainerAccess:
    """The pinned client for the platform host's Portainer (homelab.clients.connect), with the env file as the pin's
    store."""

    def __init__(self, platform: Remote) -> None:
        self.platform = platform
        self.address, self.port = connect.address(platform.inventory, "portainer")

    def stored(self, name: str) -> str | None:
        return os.environ.get(name) or read_env_file(self.platform.secrets.env_file).get(name) or None

    def client(self, api_key: str | None = None, record: bool = False) -> Portainer:
        """Pinned to the recorded fingerprint; with none recorded yet, to what the server presents now
        (recorded, and announced, when `record`: before any secret is sent)."""
        pin = self.stored(FINGERPRINT_VAR)
        if pin is None:
            pin = server_fingerprint(self.address, self.port)
            if record:
                print(f"    trusting Portainer's certificate on first use: SHA-256 {pin}; recorded as "
                      f"{FINGERPRINT_VAR} in {self.platform.secrets.env_file}", flush=True)
                set_values(self.platform.secrets.env_file, {FINGERPRINT_VAR: pin})
        return connect.pinned_portainer(self.platform.inventory, pin, api_key=api_key, timeout=TIMEOUT)

    def answers(self) -> bool:
        """Portainer answers GET /api/system/status (public: nothing secret is sent)."""
        try:
            with self.client() as portainer:
                portainer.status()
        except PortainerUnreachable:
            return False
        return True

    def api(self) -> Portainer:
        """The client with the stored API token (for phases 2 and 3); StepFailed when there is none yet."""
        token = self.stored(TOKEN_VAR)
        if not token or self.stored(FINGERPRINT_VAR) is None:
            raise StepFailed(f"no {TOKEN_VAR} (or {FINGERPRINT_VAR}) in {self.platform.secrets.env_file}: "
                             "run `python -m bootstrap phase1` first")
        return self.client(api_key=token)

    def token_works(self) -> bool:
        token = self.stored(TOKEN_VAR)
        if not token or self.stored(FINGERPRINT_VAR) is None:
            return False
        try:
            with self.client(api_key=token) as portainer:
                portainer.me()
        except PortainerError as exc:
            if exc.status in (401, 403) or isinstance(exc, PortainerUnreachable):
                return False
            raise StepFailed(str(exc)) from None
        return True


def _restart_after_lockout(platform: Remote, access: PortainerAccess) -> None:
    print("    Portainer's admin-init window has passed (AdminInitTimeout): restarting its container", flush=True)
    platform.run("docker restart portainer", timeout=120, what="docker restart portainer")
    deadline = time.monotonic() + 60
    while not access.answers():
        if time.monotonic() > deadline:
            raise StepFailed("Portainer does not answer 60 s after `docker restart portainer`; see its logs")
        time.sleep(2)


def _ensure_admin(platform: Remote, access: PortainerAccess, password: str) -> None:
    with access.client(record=True) as portainer:
        try:
            exists = portainer.admin_exists()
        except AdminInitTimeout:
            _restart_after_lockout(platform, access)
            exists = portainer.admin_exists()
        if not exists:
            portainer.init_admin(password)


def steps(platform: Remote) -> list[Step]:
    access = PortainerAccess(platform)

    def apply() -> None:
        password = platform.secrets.get(PASSWORD_VAR)
        try:
            _ensure_admin(platform, access, password)
            with access.client() as portainer:
                portainer.login(password)
                user_id = int(portainer.me()["Id"])
                token = portainer.create_token(user_id, password, TOKEN_DESCRIPTION)
        except PortainerError as exc:
            hint = (f"; if the admin was made by hand, set {PASSWORD_VAR} to its password"
                    if exc.status == 422 else "")
            raise StepFailed(f"{exc}{hint}") from None
        set_values(platform.secrets.env_file, {TOKEN_VAR: token})
        os.environ.pop(TOKEN_VAR, None)  # the new token, not a stale exported one, is what the check reads

    return [Step(f"Portainer admin and API token ({TOKEN_VAR} in the env file)", platform.host.name,
                 access.token_works, apply)]
