"""Phase 4, Grafana and Prometheus as their APIs see them, after the monitoring stack is deployed.

Grafana reads its datasource and dashboards from the stack's folder (provisioning, re-read every minute); the
admin's password is GF_SECURITY_ADMIN_PASSWORD, which Grafana reads only when it creates its database. So the
steps check rather than make: the admin signs in with GRAFANA_ADMIN_PASSWORD; the datasource answers and every
dashboard of stacks/monitoring is there by UID (waiting, bounded, for provisioning); and, last of the phase,
Prometheus scrapes every exporter of the inventory (waiting, bounded, for the first scrapes).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bootstrap.remote import Remote
from bootstrap.steps import Step, StepFailed
from homelab.clients import connect
from homelab.clients.grafana import Grafana, GrafanaAuthError, GrafanaError, GrafanaUnreachable
from homelab.clients.prometheus import ActiveTarget, PrometheusError
from homelab.model import monitoring
from homelab.model.inventory import Host, Inventory
from homelab.model.secrets import SecretError

PASSWORD_VAR = "GRAFANA_ADMIN_PASSWORD"  # noqa: S105 - the secret's name
WAIT = 90.0  # Grafana re-reads dashboards every 60 s; Prometheus scrapes every 30 s


def _wait(missing: Callable[[], list[str]], what: str, fix: str) -> None:
    """Wait (bounded) until `missing()` is empty; else StepFailed naming what is still missing."""
    deadline = time.monotonic() + WAIT
    while found := missing():
        if time.monotonic() > deadline:
            raise StepFailed(f"{what} after {WAIT:.0f} s: {'; '.join(found)}. {fix}")
        time.sleep(3)


def _grafana(remote: Remote) -> Grafana:
    timeout = max(remote.inventory.settings.connect_timeout, 10.0)
    try:
        return connect.grafana(remote.inventory, remote.secrets, timeout=timeout)
    except SecretError as exc:
        raise StepFailed(str(exc)) from None


def grafana_missing(remote: Remote) -> list[str]:
    """What keeps Grafana from serving the repo's datasource and dashboards; empty when nothing does."""
    try:
        with _grafana(remote) as grafana:
            works, message = grafana.datasource_health(monitoring.DATASOURCE_UID)
            found = [] if works else [f"datasource {monitoring.DATASOURCE_UID}: {message}"]
            return found + [f"dashboard {uid} ({title}) missing" for uid, title in monitoring.dashboards().items()
                            if grafana.dashboard(uid) is None]
    except GrafanaAuthError:
        raise
    except GrafanaError as exc:
        return [str(exc)]


def grafana_steps(remote: Remote) -> list[Step]:
    def signs_in() -> bool:
        try:
            with _grafana(remote) as grafana:
                grafana.datasources()
        except (GrafanaAuthError, GrafanaUnreachable):  # a dry run before the deploy: not done yet
            return False
        except GrafanaError as exc:
            raise StepFailed(str(exc)) from None
        return True

    def refused() -> None:
        """Nothing to make: say why the admin does not sign in (or Grafana does not answer)."""
        try:
            with _grafana(remote) as grafana:
                grafana.datasources()
        except GrafanaUnreachable as exc:
            raise StepFailed(f"{exc}; see `docker logs grafana` on {remote.host.name}") from None
        except GrafanaAuthError:
            raise StepFailed(f"Grafana refuses user {monitoring.GRAFANA_USER} with {PASSWORD_VAR}: Grafana takes "
                             "GF_SECURITY_ADMIN_PASSWORD only when it creates its database. Set the secret to the "
                             f"current password, or reset it on {remote.host.name}: `docker exec grafana grafana cli "
                             "admin reset-admin-password NEW` (then put NEW in the env file)") from None

    def provisioned() -> bool:
        try:
            return not grafana_missing(remote)
        except GrafanaAuthError:
            refused()
            return False

    def wait_provisioned() -> None:
        _wait(lambda: grafana_missing(remote), "Grafana does not serve the repo's datasource and dashboards",
              f"See `docker logs grafana` on {remote.host.name} (provisioning errors) and "
              "stacks/monitoring/grafana/provisioning")

    count = len(monitoring.dashboards())
    return [Step(f"Grafana signs in {monitoring.GRAFANA_USER} with {PASSWORD_VAR}", remote.host.name, signs_in,
                 refused),
            Step(f"Grafana: datasource {monitoring.DATASOURCE_UID} answers, {count} dashboards of stacks/monitoring "
                 "provisioned by UID", remote.host.name, provisioned, wait_provisioned)]


def down_targets(inventory: Inventory, hosts: list[Host]) -> list[str]:
    """The planned targets of `hosts` that Prometheus does not scrape successfully, each with why."""
    timeout = max(inventory.settings.connect_timeout, 10.0)
    try:
        with connect.prometheus(inventory, timeout=timeout) as prometheus:
            active = {(t.job, t.instance): t for t in prometheus.targets()}
    except PrometheusError as exc:
        return [str(exc)]
    found = []
    for target in monitoring.scrape_targets(inventory):
        if target.host not in hosts:
            continue
        seen: ActiveTarget | None = active.get((target.job, target.address))
        if seen is None:
            found.append(f"{target.job} {target.address} ({target.host.name}) not among Prometheus' targets")
        elif seen.health != "up":
            found.append(f"{target.job} {target.address} ({target.host.name}) {seen.health}"
                         f"{': ' + seen.last_error if seen.last_error else ''}")
    return found


def targets_step(inventory: Inventory, hosts: list[Host]) -> Step:
    """Last: Prometheus scrapes every exporter on `hosts` (the ones that are on), waiting for the first scrapes."""
    def wait() -> None:
        _wait(lambda: down_targets(inventory, hosts), "Prometheus does not scrape every exporter",
              "Check the exporters stack on those hosts and that the platform VM reaches their ports (firewall)")

    target = inventory.platform_host.name
    count = len([t for t in monitoring.scrape_targets(inventory) if t.host in hosts])
    return Step(f"Prometheus scrapes all {count} exporter targets of the inventory (file_sd), each up", target,
                lambda: not down_targets(inventory, hosts), wait)
