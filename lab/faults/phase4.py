"""The phase 4 faults: each breaks one constraint of the observability stack (an exporter, Prometheus' file_sd
targets, a Grafana dashboard, an Uptime Kuma monitor, the exporters' exposure) and names the specs that must
catch it.

Prometheus scrapes every 15 s and Uptime Kuma checks every settings.monitor_interval (the lab's: 20 s), so a fault
that they must notice waits (bounded) until they have: the specs then see a settled state, not a race.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable

import httpx

from homelab.clients import connect
from homelab.model import monitoring
from homelab.model.redact import basic_auth
from lab.docker import LabError
from lab.faults.base import Fault, Lab

STOPPED = "pve-docker-1"                  # node-exporter stopped there
MISSING = "unraid"                         # its node target dropped from file_sd
GUEST = "pve-docker-2"                     # node-exporter opened to the guest network there
DASHBOARD = "homelab-containers"
MONITOR = "prometheus@platform"
TARGETS = "/opt/homelab/stacks/monitoring/prometheus/targets/node-inventory.json"
DASHBOARDS = "/opt/homelab/stacks/monitoring/grafana/dashboards"
ALLOWED = ("runner", "platform", "unraid", "pve-docker-1", "pve-docker-2", "vpn-client")  # LAN and VPN sources
NOTICE = 100.0                             # Prometheus' 15 s, Kuma's interval (60 s at most here), a margin


def _wait(what: str, done: Callable[[], bool], limit: float = NOTICE) -> None:
    deadline = time.monotonic() + limit
    while not done():
        if time.monotonic() > deadline:
            raise LabError(f"{what} within {limit:.0f} s")
        time.sleep(2)


def _target(lab: Lab, host: str) -> str:
    """The address (ADDRESS:PORT) of `host`'s node target, as Prometheus is told to scrape it."""
    return next(t.address for t in monitoring.scrape_targets(lab.inventory, "node") if t.host.name == host)


def _health(lab: Lab, address: str) -> str | None:
    """Prometheus' health of the node target at `address`, None when it has no such target."""
    with connect.prometheus(lab.inventory, timeout=10) as prometheus:
        found = [t.health for t in prometheus.targets() if t.job == "node" and t.instance == address]
    return found[0] if found else None


def _kuma_state(lab: Lab, name: str) -> str | None:
    answer = httpx.get(f"{connect.url(lab.inventory, 'uptime-kuma')}/metrics", timeout=10,
                       auth=basic_auth(*connect.credentials("uptime-kuma", lab.secrets)))
    line = next((x for x in answer.text.splitlines()
                 if x.startswith("monitor_status{") and f'monitor_name="{name}"' in x), None)
    return line.rsplit(" ", 1)[1] if line else None


def _stop_exporter(lab: Lab) -> None:
    lab.sh(STOPPED, "docker stop node-exporter >/dev/null")
    name = f"node-exporter@{STOPPED}"
    _wait(f"Prometheus did not see {_target(lab, STOPPED)} down", lambda: _health(lab, _target(lab, STOPPED)) == "down")
    _wait(f"Uptime Kuma did not see {name} down", lambda: _kuma_state(lab, name) not in ("1", None))


def _drop_target(lab: Lab) -> None:
    """Rewrite node-inventory.json without MISSING's target (atomically, as an editor saving it would)."""
    address = _target(lab, MISSING)
    script = (f"import json; p={TARGETS!r}; g=[x for x in json.load(open(p)) if {address!r} not in x['targets']]; "
              "open(p + '.fault', 'w').write(json.dumps(g, indent=2))")
    lab.sh("platform", f"python3 -c {shlex.quote(script)} && mv {TARGETS}.fault {TARGETS}")
    _wait(f"Prometheus still scrapes {address}", lambda: _health(lab, address) is None)


def _delete_dashboard(lab: Lab) -> None:
    """The dashboard's file removed from the host and the dashboard from Grafana (the stand-in's forced delete:
    Grafana's API refuses to delete a provisioned one), so that provisioning cannot bring it back."""
    lab.sh("platform", f"rm -f {DASHBOARDS}/{DASHBOARD}.json")
    answer = httpx.delete(f"{connect.url(lab.inventory, 'grafana')}/standin/dashboards/uid/{DASHBOARD}",
                          auth=basic_auth(*connect.credentials("grafana", lab.secrets)), timeout=10)
    if answer.status_code not in (200, 404):
        raise LabError(f"Grafana did not delete {DASHBOARD}: HTTP {answer.status_code} {answer.text[:200]}")


def _delete_monitor(lab: Lab) -> None:
    with connect.uptime_kuma(lab.inventory, lab.secrets, timeout=20) as kuma:
        if not kuma.delete_monitor(MONITOR):
            raise LabError(f"Uptime Kuma has no monitor {MONITOR}: apply bootstrap phase 4 first")


def _guest_rule(lab: Lab, verb: str) -> None:
    """Insert (or delete) a rule that admits the guest network to 9100, first in pve-docker-2's HOMELAB-DOCKER."""
    guest = next(n.cidr for n in lab.inventory.networks.values() if n.kind == "guest")
    rule = f"-s {guest} -p tcp -m conntrack --ctorigdstport 9100 --ctdir ORIGINAL -j RETURN"
    where = "-I HOMELAB-DOCKER 1" if verb == "insert" else "-D HOMELAB-DOCKER"
    lab.sh(GUEST, f"iptables {where} {rule}")


def _exposed(host: str, *sources: str) -> tuple[str, ...]:
    return tuple(f"test_node_exporter_exposure[{host}<-{s}]" for s in sources if s != host)


FAULTS = (
    Fault("node-exporter-stopped", f"node-exporter stopped on {STOPPED}",
          (f"test_container_running[node-exporter@{STOPPED}]", f"test_target_up[node-exporter@{STOPPED}]",
           f"test_monitor_up[node-exporter@{STOPPED}]", *_exposed(STOPPED, *ALLOWED)),
          _stop_exporter, lambda lab: lab.sh(STOPPED, "docker start node-exporter >/dev/null"), phase=4,
          also=_exposed(STOPPED, "gaming-pc-1"),
          why="gaming-pc-1 probes 9100 only while it is on (on-demand); when it is, it finds the port closed too"),
    Fault("target-missing", f"{MISSING}'s node-exporter target dropped from Prometheus' file_sd (node-inventory.json)",
          ("test_file_sd_targets_from_inventory[prometheus@platform-node]", f"test_target_up[node-exporter@{MISSING}]"),
          _drop_target, lambda lab: None, phase=4),
    Fault("dashboard-deleted", f"Grafana's dashboard {DASHBOARD} deleted (and its file gone from the platform)",
          (f"test_dashboard_present[{DASHBOARD}]",), _delete_dashboard, lambda lab: None, phase=4),
    Fault("monitor-deleted", f"Uptime Kuma's monitor {MONITOR} deleted",
          (f"test_monitor_configured[{MONITOR}]",), _delete_monitor, lambda lab: None, phase=4,
          also=(f"test_monitor_up[{MONITOR}]",),
          why="with no monitor there is no state to read: it says there is no monitor by that name"),
    Fault("node-exporter-guest", f"node-exporter on {GUEST} opened to the guest network (a RETURN rule for it on "
          "9100, first in HOMELAB-DOCKER)",
          _exposed(GUEST, "guest"), lambda lab: _guest_rule(lab, "insert"), lambda lab: _guest_rule(lab, "delete"),
          phase=4),
)
