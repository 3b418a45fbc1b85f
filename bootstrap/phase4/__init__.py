"""Bootstrap phase 4: observability. `python -m bootstrap phase4 --inventory PATH [--dry-run]`.

On every host with the `exporters` or `monitoring` stack that is on (an on-demand host that is off is skipped,
saying so), in order: Docker and compose; the exporters stack (node-exporter 9100, cAdvisor 8080) deployed
and answering; on the platform VM the monitoring stack (Prometheus 9090, Grafana 3000) with Prometheus'
file_sd targets generated from the inventory into prometheus/targets/ (one file per job, every exporter of
every host, labelled with its host, role and availability), Grafana's admin checked against
GRAFANA_ADMIN_PASSWORD, its datasource answering and every dashboard of stacks/monitoring provisioned; the
host's firewall last. Then NPM serves the phase-4 names (certificate and proxy host, as phase 1 does for its
own) and Uptime Kuma gets its user and one monitor per service instance, while, beside them, Prometheus must
scrape every exporter of the hosts that are on. docs/observability.md says what and why.
"""

from __future__ import annotations

from bootstrap import edgestacks
from bootstrap.phase4 import kuma
from bootstrap.phase4.exporters import EXPORTERS, MONITORING, host_steps
from bootstrap.phase4.grafana import targets_step
from bootstrap.remote import Remote, is_off
from bootstrap.services import proxy
from bootstrap.services.portainer import PortainerAccess
from bootstrap.steps import Parallel, Plan, Step
from homelab.model.inventory import Inventory
from homelab.model.secrets import Secrets
from homelab.transport.ssh import SSHPool

PHASE = 4


def steps(inventory: Inventory, secrets: Secrets, pool: SSHPool) -> Plan:
    found: list[tuple[Step, ...]] = []  # each host's steps in order, the hosts at once
    on = []
    access = PortainerAccess(Remote(inventory, secrets, pool, inventory.platform_host))
    for host in inventory.hosts.values():
        if EXPORTERS not in host.stacks and MONITORING not in host.stacks:
            continue
        off = is_off(pool, host)
        if off:
            print(f"  skipped  {host.name}: on-demand host is off ({off}); run phase 4 again when it is on "
                  "(until then its Prometheus targets are down and its monitors too)")
            continue
        on.append(host)
        found.append(tuple(host_steps(Remote(inventory, secrets, pool, host), access)))
    # The Edge hosts' exporters: Portainer and the Edge agents do that work, so it runs beside the hosts' groups,
    # its health waits overlapping theirs.
    edge = tuple(edgestacks.steps(inventory, secrets, pool, access, (EXPORTERS,)))
    # Then NPM's names and Kuma's monitors, while Prometheus' first scrapes of the new targets (up to its 30 s
    # interval) are waited for beside them: neither depends on the other.
    services = (*proxy.steps(inventory, secrets, pool, phase=PHASE), *kuma.steps(inventory, secrets))
    return [Parallel((*found, edge)), Parallel((services, (targets_step(inventory, on),)))]
