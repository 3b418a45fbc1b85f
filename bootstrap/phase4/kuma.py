"""Phase 4, Uptime Kuma (platform stack, phase 1): its one user, and one monitor per service instance.

The user `admin` is made on first run (Kuma's setup) with UPTIME_KUMA_PASSWORD; afterwards it must sign in
with it. Monitors come from homelab.model.monitoring (`SERVICE@HOST`, http on the upstream or port): each is found
by name and created, or updated in place, never duplicated. Monitors bootstrap made (their description says
so) that the inventory no longer has are removed; monitors made by hand are left alone, and named.
Kuma's API is Socket.IO, reached from here where the inventory says (homelab.clients.connect, as NPM and
Technitium are).
"""

from __future__ import annotations

import sys

from bootstrap.services.apiclients import Session, applied_by, checked_by, retry
from bootstrap.steps import Step, StepFailed
from homelab.clients import connect
from homelab.clients.uptimekuma import (
    Monitor,
    UptimeKuma,
    UptimeKumaAuthError,
    UptimeKumaError,
    UptimeKumaUnreachable,
)
from homelab.model import monitoring
from homelab.model.inventory import Inventory
from homelab.model.monitoring import MonitorSpec
from homelab.model.redact import REDACTOR
from homelab.model.secrets import SecretError, Secrets

PASSWORD_VAR = "UPTIME_KUMA_PASSWORD"  # noqa: S105 - the secret's name


class KumaSession(Session[UptimeKuma]):
    """One Socket.IO connection for the run, opened on first use and signed in (a dry run may open none); `get`
    raises UptimeKumaAuthError while Kuma has no user yet or refuses the password."""

    def __init__(self, inventory: Inventory, secrets: Secrets) -> None:
        super().__init__(secrets)
        self.inventory = inventory
        self.timeout = max(inventory.settings.connect_timeout, 10.0)
        self._monitors: list[Monitor] | None = None

    def open(self, wait: bool) -> UptimeKuma:
        """A new connection, not signed in (Kuma's first-user setup is asked on one)."""
        return retry(lambda: connect.uptime_kuma(self.inventory, None, timeout=self.timeout), wait,
                     UptimeKumaUnreachable)

    def sign_in(self, client: UptimeKuma, wait: bool) -> None:
        client.login(*connect.credentials("uptime-kuma", self.secrets))

    def monitors(self) -> list[Monitor]:
        """The monitor list, read once and again only after a change: every read costs the library's 0.2 s wait
        for Kuma's pushes, and the checks of 21 monitors would read it 21 times."""
        if self._monitors is None:
            self._monitors = self.get().monitors()
        return self._monitors

    def changed(self) -> None:
        """A monitor was made, edited or deleted: the next check reads the list again."""
        self._monitors = None


# Kuma unreachable, or not signed in yet (no user): "not done". Other errors fail the step.
checked = checked_by((UptimeKumaUnreachable, UptimeKumaAuthError), (UptimeKumaError, SecretError))
applied = applied_by((UptimeKumaError, SecretError, ValueError), limit=300)  # ValueError: the library refused a field


def user_step(session: KumaSession, target: str) -> Step:
    def done() -> bool:
        with session.open(wait=False) as kuma:
            if kuma.need_setup():
                return False
        session.get()
        return True

    def make() -> None:
        with session.open(wait=True) as kuma:
            if kuma.need_setup():
                kuma.setup(*connect.credentials("uptime-kuma", session.secrets))
        try:
            session.get(wait=True)
        except UptimeKumaAuthError:
            raise StepFailed(f"Uptime Kuma refuses user {monitoring.KUMA_USER} with {PASSWORD_VAR}: set the secret to "
                             "its password (Kuma has one user, made at its first start), or change the password in "
                             "Uptime Kuma (Settings > Security)") from None

    return Step(f"Uptime Kuma user {monitoring.KUMA_USER} (first-run setup with {PASSWORD_VAR})", target,
                checked(done), applied(make))


def monitor_step(session: KumaSession, spec: MonitorSpec, target: str) -> Step:
    def done() -> bool:
        found = [m for m in session.monitors() if m.name == spec.name]
        return len(found) == 1 and not found[0].differences(spec)

    def make() -> None:
        kuma = session.get(wait=True)
        try:
            kuma.ensure_monitor(spec, session.monitors())
        finally:
            session.changed()

    return Step(f"monitor {spec.name} ({monitoring.describe(spec)})", target, checked(done), applied(make))


def steps(inventory: Inventory, secrets: Secrets) -> list[Step]:
    session = KumaSession(inventory, secrets)
    target = f"{inventory.platform_host.name}/uptime-kuma"
    planned = monitoring.monitors(inventory)
    names = {m.name for m in planned}
    reported: set[str] = set()
    for service, host in inventory.instances():
        if monitoring.monitor_spec(service, host) is None:
            print(f"  note     {target}: {monitoring.monitor_name(service, host)} publishes no port: no monitor "
                  "(nothing to probe from the platform)")

    def leftovers() -> list[str]:
        found = session.monitors()
        for m in found:
            if m.name not in names and m.fields.get("description") != monitoring.MANAGED and m.name not in reported:
                reported.add(m.name)
                print(REDACTOR(f"  note     {target}: monitor {m.name} is not in the inventory and was not made by "
                               "bootstrap: left alone"), file=sys.stdout)
        return [m.name for m in found if m.name not in names and m.fields.get("description") == monitoring.MANAGED]

    def prune() -> None:
        kuma = session.get(wait=True)
        try:
            for name in leftovers():
                kuma.delete_monitor(name)
        finally:
            session.changed()

    return [user_step(session, target), *(monitor_step(session, m, target) for m in planned),
            Step("remove monitors bootstrap made that the inventory no longer has", target,
                 checked(lambda: not leftovers()), applied(prune))]
