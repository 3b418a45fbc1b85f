"""Each service's client, made from the inventory and its secrets: the one place that knows where a service's API is
and which secrets log in to it. E.g. `with connect.grafana(inventory, secrets) as grafana: grafana.health()`.

Where: the host the inventory runs the service on (the first, or the `host=` given: one of them) and the port of
its API, the service's `upstream` (what NPM forwards its name to), or its only TCP port where it names none. No
port is assumed: a service the inventory lacks, runs nowhere or gives no API port is `NotInInventory`, one line
naming the inventory's key (the loader already refuses a service of API_SERVICES that gives no API port; bootstrap
and the spec plugin print the line of one the inventory lacks). `url` and `address` say the same for a caller that
asks a service outside a client.

Login: with `secrets`, each client is signed in as the admin the inventory's secrets name (`ADMINS`; `credentials`
reads them): NPM, Technitium and Uptime Kuma log in at once, Grafana sends HTTP Basic with every call, Portainer
sends its API token and is pinned to its recorded certificate (PORTAINER_TLS_FINGERPRINT: TLS to it is never
unpinned). A missing secret is homelab.model.secrets' SecretError, raised before anything is sent; a refused
login the client's own error (NpmAuthError, TechnitiumAuthError, UptimeKumaAuthError; GrafanaAuthError at its
first call), and the client is closed then. `secrets=None` gives a client not logged in: for the calls that need
none (health, version, Kuma's first-run setup), or a caller that logs in itself (bootstrap, waiting for a service
that is starting). No message carries a secret.

Timeout: every call bounded by `timeout`, by default the inventory's `settings.connect_timeout` times 3 (as the
specs ask); bootstrap and the lab's faults pass their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from homelab.clients.grafana import Grafana
from homelab.clients.npm import Npm
from homelab.clients.portainer import FINGERPRINT_VAR, TOKEN_VAR, Portainer
from homelab.clients.prometheus import Prometheus
from homelab.clients.technitium import Technitium
from homelab.model import monitoring
from homelab.model.inventory import Host, Inventory, Service
from homelab.model.secrets import Secrets

if TYPE_CHECKING:  # imported when asked for: the Socket.IO library is the slowest of the clients to load
    from homelab.clients.uptimekuma import UptimeKuma

TIMEOUT_FACTOR = 3  # a call's bound, in connect timeouts: a connect, a request, an answer


class NotInInventory(LookupError):
    """The inventory does not say where a service's API is: no such service, no host runs it, or no API port."""


@dataclass(frozen=True)
class Admin:
    """A service's admin: the user (a fixed name, or the secret that holds it) and the secret of its password."""

    password: str
    user: str = ""
    user_secret: str | None = None

    def of(self, secrets: Secrets) -> tuple[str, str]:
        """(user, password) from `secrets`: SecretError, naming the secret, where one is missing."""
        user = secrets.get(self.user_secret) if self.user_secret else self.user
        return user, secrets.get(self.password)


ADMINS = {  # the secrets by name: their values come from Secrets
    "grafana": Admin("GRAFANA_ADMIN_PASSWORD", user=monitoring.GRAFANA_USER),
    "npm": Admin("NPM_ADMIN_PASSWORD", user_secret="NPM_ADMIN_EMAIL"),  # noqa: S106 - the secret's name
    "technitium": Admin("TECHNITIUM_ADMIN_PASSWORD", user="admin"),
    "uptime-kuma": Admin("UPTIME_KUMA_PASSWORD", user=monitoring.KUMA_USER),
}


def credentials(service: str, secrets: Secrets) -> tuple[str, str]:
    """The (user, password) `service`'s admin logs in with (ADMINS), read from `secrets`."""
    return ADMINS[service].of(secrets)


def _login(service: str, secrets: Secrets | None) -> tuple[str, str] | None:
    return credentials(service, secrets) if secrets is not None else None


def default_timeout(inventory: Inventory) -> float:
    return inventory.settings.connect_timeout * TIMEOUT_FACTOR


def _bound(inventory: Inventory, timeout: float | None) -> float:
    return default_timeout(inventory) if timeout is None else timeout


# --- where ------------------------------------------------------------------------------------------------------
def _service(inventory: Inventory, name: str) -> Service:
    found = inventory.services.get(name)
    if found is None:
        raise NotInInventory(f"{inventory.path}: services.{name}: not in the inventory; expected an entry with its "
                             "stack and `upstream: {port: N}`, the port of its API")
    return found


def host_of(inventory: Inventory, name: str, host: Host | None = None) -> Host:
    """The host whose `name` service is asked: `host` (one that runs it), else the first that runs it."""
    service = _service(inventory, name)
    hosts = inventory.hosts_of(service)
    if host is None and hosts:
        return hosts[0]
    if host is not None and host in hosts:
        return host
    which = f"host {host.name} does not run it" if host is not None else "no host runs it"
    raise NotInInventory(f"{inventory.path}: services.{name}: {which}; expected a host that lists its stack "
                         f"{service.stack}")


def port_of(inventory: Inventory, name: str) -> int:
    """The port of `name`'s API: its `upstream`, else its only TCP port."""
    service = _service(inventory, name)
    if service.upstream is not None:
        return service.upstream.port
    tcp = [p.port for p in service.ports if p.protocol == "tcp"]
    if len(tcp) == 1:
        return tcp[0]
    raise NotInInventory(f"{inventory.path}: services.{name}: names no `upstream` and has {len(tcp)} TCP ports; "
                         "expected `upstream: {port: N}`, the port of its API")


def address(inventory: Inventory, name: str, host: Host | None = None) -> tuple[str, int]:
    """(address, port) of `name`'s API, as this machine reaches it."""
    return str(host_of(inventory, name, host).address), port_of(inventory, name)


def url(inventory: Inventory, name: str, host: Host | None = None) -> str:
    """`SCHEME://ADDRESS:PORT` of `name`'s API (the upstream's scheme; http where it names none)."""
    service = _service(inventory, name)
    where, port = address(inventory, name, host)
    return f"{service.upstream.scheme if service.upstream else 'http'}://{where}:{port}"


class _LogsIn(Protocol):
    def login(self, user: str, password: str, /) -> object: ...

    def close(self) -> None: ...


L = TypeVar("L", bound=_LogsIn)


def _logged_in(client: L, login: tuple[str, str] | None) -> L:
    """`client` logged in with `login` (user, password), where given; closed where the login fails."""
    if login is None:
        return client
    try:
        client.login(*login)
    except BaseException:
        client.close()
        raise
    return client


# --- the clients ------------------------------------------------------------------------------------------------
def grafana(inventory: Inventory, secrets: Secrets | None, *, host: Host | None = None,
            timeout: float | None = None) -> Grafana:
    """Grafana's HTTP API, as its admin (HTTP Basic with GRAFANA_ADMIN_PASSWORD on every call)."""
    user, password = _login("grafana", secrets) or ("", "")
    return Grafana(url(inventory, "grafana", host), user, password, _bound(inventory, timeout))


def prometheus(inventory: Inventory, *, host: Host | None = None, timeout: float | None = None) -> Prometheus:
    """Prometheus' HTTP API (it has no login)."""
    return Prometheus(url(inventory, "prometheus", host), timeout=_bound(inventory, timeout))


def technitium(inventory: Inventory, secrets: Secrets | None, *, host: Host | None = None,
               timeout: float | None = None) -> Technitium:
    """Technitium's HTTP API, logged in as admin with TECHNITIUM_ADMIN_PASSWORD (a session token)."""
    login = _login("technitium", secrets)
    client = Technitium(url(inventory, "technitium", host), timeout=_bound(inventory, timeout))
    return _logged_in(client, login)


def npm(inventory: Inventory, secrets: Secrets | None, *, host: Host | None = None,
        timeout: float | None = None) -> Npm:
    """NPM's admin API, logged in with NPM_ADMIN_EMAIL and NPM_ADMIN_PASSWORD (a token)."""
    login = _login("npm", secrets)
    client = Npm(url(inventory, "npm", host), timeout=_bound(inventory, timeout))
    return _logged_in(client, login)


def uptime_kuma(inventory: Inventory, secrets: Secrets | None, *, host: Host | None = None,
                timeout: float | None = None) -> UptimeKuma:
    """Uptime Kuma's Socket.IO API (connected: UptimeKumaUnreachable where it does not answer), logged in as admin
    with UPTIME_KUMA_PASSWORD."""
    from homelab.clients.uptimekuma import UptimeKuma

    login = _login("uptime-kuma", secrets)
    client = UptimeKuma(url(inventory, "uptime-kuma", host), timeout=_bound(inventory, timeout))
    return _logged_in(client, login)


def portainer(inventory: Inventory, secrets: Secrets, *, timeout: float | None = None) -> Portainer:
    """Portainer's API as bootstrap phase 1 left it: authenticated by PORTAINER_API_TOKEN, pinned to the certificate
    PORTAINER_TLS_FINGERPRINT records."""
    token, pin = secrets.get(TOKEN_VAR), secrets.get(FINGERPRINT_VAR)
    return pinned_portainer(inventory, pin, api_key=token, timeout=timeout)


def pinned_portainer(inventory: Inventory, fingerprint: str, *, api_key: str | None = None,
                     timeout: float | None = None) -> Portainer:
    """Portainer's API pinned to the certificate `fingerprint` (for bootstrap, which records the pin on first contact
    and makes the token), authenticated by `api_key` where given. TLS is verified by the pin alone, on every
    connection, before anything is sent (homelab.clients.pinned_tls)."""
    where, port = address(inventory, "portainer")
    return Portainer.pinned(where, fingerprint, port=port, api_key=api_key,
                            timeout=_bound(inventory, timeout))
