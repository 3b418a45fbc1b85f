"""A typed client for Uptime Kuma 1.23's management API, which is Socket.IO (upstream server/server.js): first-user
setup, login, and monitors kept as specified, by name.

It drives the kept `uptime-kuma-api` library (1.2, for Kuma 1.21-1.23, over python-socketio). The library is
untyped, so every call into it stays in this module. Every call is bounded: the library's own timeout for
connect, each event and each awaited push, and `close` gives up after `timeout` as well. Failures become
`UptimeKumaError` naming the URL (`UptimeKumaUnreachable`, `UptimeKumaAuthError`); no message carries a
password. TLS is verified unless `ssl_verify=False`; `ca_bundle` adds a CA (the lab's, or a private one).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import requests
import socketio
from uptime_kuma_api import MonitorType, UptimeKumaApi, UptimeKumaException
from uptime_kuma_api import Timeout as KumaTimeout

from homelab.clients.base import Closing
from homelab.model.monitoring import MonitorSpec

DEFAULT_TIMEOUT = 10.0
Outcome = Literal["created", "updated", "unchanged"]


class UptimeKumaError(Exception):
    """A call failed: Uptime Kuma said no (its message is in ours), or it could not be reached."""


class UptimeKumaUnreachable(UptimeKumaError):
    """Nothing answered at the URL, or not in time."""


class UptimeKumaAuthError(UptimeKumaError):
    """Wrong username or password, or a call that needs a login made before it."""


@dataclass(frozen=True)
class Monitor:
    id: int
    name: str
    type: str
    active: bool
    url: str | None
    hostname: str | None
    port: int | None
    push_token: str | None
    fields: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Monitor:
        kind = item.get("type")
        return cls(id=int(item["id"]), name=str(item["name"]), type=str(getattr(kind, "value", kind)),
                   active=bool(item.get("active")), url=item.get("url"), hostname=item.get("hostname"),
                   port=item.get("port"), push_token=item.get("pushToken"), fields=dict(item))

    def differences(self, spec: MonitorSpec) -> list[str]:
        """The fields (and `active`) in which this monitor is not as specified."""
        changed = [key for key, want in spec.fields().items() if _plain(self.fields.get(key)) != _plain(want)]
        return changed + (["active"] if self.active != spec.active else [])


def _plain(value: Any) -> Any:
    """The library turns some values into enums and lists; compare what Kuma stores."""
    if isinstance(value, MonitorType):
        return value.value
    return list(value) if isinstance(value, tuple) else value


class _Api(UptimeKumaApi):  # type: ignore[misc] # the library is untyped
    """The library's client with a CA bundle and a bounded handshake: set on its Engine.IO client before the
    connection that the library's constructor opens."""

    def __init__(self, url: str, timeout: float, ssl_verify: bool, ca_bundle: Path | str | None) -> None:
        self._session = requests.Session()
        self._session.verify = str(ca_bundle) if ca_bundle is not None and ssl_verify else ssl_verify
        super().__init__(url, timeout=timeout, ssl_verify=ssl_verify)

    def connect(self) -> None:
        """The library's connect, keeping the reason of a failure (it says only "unable to connect")."""
        self.sio.eio.http = self._session
        self.sio.eio.request_timeout = self.timeout
        try:
            self.sio.connect(f"{self.url}/socket.io/", wait_timeout=self.timeout, headers=self.headers)
        except (socketio.exceptions.SocketIOError, ValueError, OSError) as exc:
            raise UptimeKumaException(str(exc) or type(exc).__name__) from None


class UptimeKuma(Closing):
    """One connection, e.g. `with UptimeKuma("https://status.home.example.com") as kuma: kuma.login(...)`."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT, ssl_verify: bool = True,
                 ca_bundle: Path | str | None = None) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout
        self._logged_in = False
        try:
            self._api = _Api(self.url, timeout, ssl_verify, ca_bundle)
        except UptimeKumaException as exc:
            raise UptimeKumaUnreachable(f"{self.url}: cannot connect to Uptime Kuma's Socket.IO API within "
                                        f"{timeout:g} s: {exc}") from None

    def close(self) -> None:
        """Disconnect; a server that does not answer costs at most `timeout`."""
        worker = threading.Thread(target=self._api.disconnect, daemon=True)
        worker.start()
        worker.join(self.timeout)

    @contextmanager
    def _call(self, what: str) -> Iterator[None]:
        try:
            yield
        except (KumaTimeout, socketio.exceptions.TimeoutError):
            raise UptimeKumaUnreachable(f"{self.url}: no answer to {what} within {self.timeout:g} s") from None
        except socketio.exceptions.SocketIOError as exc:
            raise UptimeKumaUnreachable(f"{self.url}: {what}: connection lost ({exc})") from None
        except UptimeKumaException as exc:
            if str(exc) == "You are not logged in.":
                raise UptimeKumaAuthError(f"{self.url}: {what}: not logged in; call login() first") from None
            raise UptimeKumaError(f"{self.url}: {what}: Uptime Kuma said: {exc}") from None

    # --- first user and login ---------------------------------------------------------------------------------
    def need_setup(self) -> bool:
        """True while Kuma has no user (a fresh install shows its setup page)."""
        with self._call("needSetup"):
            return bool(self._api.need_setup())

    def setup(self, username: str, password: str) -> None:
        """Create the first (and only) user; Kuma refuses once one exists, and weak passwords."""
        with self._call("setup"):
            self._api.setup(username, password)

    def login(self, username: str, password: str) -> None:
        try:
            with self._call("login"):
                self._api.login(username, password)
        except UptimeKumaError as exc:
            if "Incorrect username or password" in str(exc):
                raise UptimeKumaAuthError(f"{self.url}: wrong username or password for Uptime Kuma user "
                                          f"{username!r}") from None
            raise
        self._logged_in = True

    # --- monitors ---------------------------------------------------------------------------------------------
    def monitors(self) -> list[Monitor]:
        if not self._logged_in:  # Kuma pushes the list only after a login; waiting for it would only time out
            raise UptimeKumaAuthError(f"{self.url}: the monitor list needs a login; call login() first")
        with self._call("the monitor list"):
            return [Monitor.from_json(item) for item in self._api.get_monitors()]

    def monitor(self, name: str) -> Monitor | None:
        """The monitor called `name`; an error if several are (Kuma allows that, this client never makes it)."""
        found = [m for m in self.monitors() if m.name == name]
        if len(found) > 1:
            raise UptimeKumaError(f"{self.url}: {len(found)} monitors are named {name!r} (ids "
                                  f"{', '.join(str(m.id) for m in found)}); delete all but one in Uptime Kuma")
        return found[0] if found else None

    def ensure_monitor(self, spec: MonitorSpec, known: list[Monitor] | None = None) -> Outcome:
        """Create the monitor, or bring the one of that name to the spec; never a second one of a name. `known`:
        the monitor list just read (saves reading it again: the library waits 0.2 s on every read)."""
        found = [m for m in known if m.name == spec.name] if known is not None else None
        existing = self.monitor(spec.name) if found is None or len(found) > 1 else (found[0] if found else None)
        if existing is None:
            with self._call(f"adding monitor {spec.name!r}"):
                added = self._api.add_monitor(**spec.fields())
            if not spec.active:
                with self._call(f"pausing monitor {spec.name!r}"):
                    self._api.pause_monitor(int(added["monitorID"]))
            return "created"
        changed = existing.differences(spec)
        if not changed:
            return "unchanged"
        if changed != ["active"]:
            with self._call(f"editing monitor {spec.name!r}"):
                self._api.edit_monitor(existing.id, **spec.fields())
        if "active" in changed:
            with self._call(f"{'resuming' if spec.active else 'pausing'} monitor {spec.name!r}"):
                (self._api.resume_monitor if spec.active else self._api.pause_monitor)(existing.id)
        return "updated"

    def delete_monitor(self, name: str) -> bool:
        """Delete the monitor called `name`; False when there is none."""
        existing = self.monitor(name)
        if existing is None:
            return False
        with self._call(f"deleting monitor {name!r}"):
            self._api.delete_monitor(existing.id)
        return True
