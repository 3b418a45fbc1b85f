"""Phase 4's plan, from the inventory alone (pure): Prometheus' scrape targets, the file_sd files that list them,
the dashboards kept in stacks/monitoring, and one Uptime Kuma monitor per service instance.

Bootstrap writes and creates what this module plans; the phase 4 specs compare the live hosts with the same
plan, so the two cannot disagree (as `homelab.model.firewall` does for the firewall).

Targets: for each host with the `exporters` stack, one per job (`node` = node-exporter, `cadvisor` = cAdvisor),
at the host's address and the service's first TCP port, labelled `host`, `role` and `availability` (on-demand
hosts are down while switched off). One file per job, `prometheus/targets/JOB-inventory.json`, which
prometheus.yml's file_sd globs (`node-*.json`, `cadvisor-*.json`) read; Prometheus re-reads them by itself.

Monitors (docs/observability.md): named `SERVICE@HOST` like the spec ids, so a second host never renames
one. A service NPM forwards to over HTTP is an `http` monitor on its upstream (`http://ADDRESS:PORT/`,
2xx and 3xx accepted); any other service with a TCP port a `port` monitor on its first one; a service that
publishes nothing (the Edge agent dials out) has none. Kuma probes from the platform VM, which every exposure
admits; DNS and NPM's certificates are the P1/P4 DNS and TLS specs' business. A monitor as planned is a
`MonitorSpec`; the Uptime Kuma client (homelab.clients.uptimekuma) makes Kuma's monitors match it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homelab.model.inventory import Host, Inventory, Service
from homelab.model.paths import stack_dir

MONITORING = stack_dir("monitoring")
DASHBOARDS_DIR = MONITORING / "grafana" / "dashboards"
TARGETS_DIR = "prometheus/targets"          # inside the monitoring stack's directory
JOBS = {"node": "node-exporter", "cadvisor": "cadvisor"}   # Prometheus job -> the inventory's service
DATASOURCE_UID = "prometheus"
MANAGED = "managed by homelab bootstrap (inventory.yaml)"   # the description of every monitor bootstrap makes
KUMA_USER = "admin"
GRAFANA_USER = "admin"
MONITOR_INTERVAL = 60  # seconds; the inventory's settings.monitor_interval (Uptime Kuma's shortest: 20)

# What each monitor type needs besides its name (the library refuses the call without them).
REQUIRED = {"http": ("url",), "keyword": ("url", "keyword"), "port": ("hostname", "port"), "dns": ("hostname",),
            "docker": ("docker_container", "docker_host"), "push": ()}


@dataclass(frozen=True)
class MonitorSpec:
    """A monitor as it should be; `name` identifies it. Field names follow Kuma's where they are Kuma's own."""

    name: str
    type: str = "http"
    url: str | None = None
    hostname: str | None = None
    port: int | None = None
    keyword: str | None = None
    interval: int = 60
    retry_interval: int = 60
    max_retries: int = 1
    timeout: int = 48
    ignore_tls: bool = False
    accepted_statuscodes: tuple[str, ...] = ("200-299",)
    dns_resolve_server: str = "1.1.1.1"
    dns_resolve_type: str = "A"
    docker_container: str | None = None
    docker_host: int | None = None
    push_token: str | None = None  # None: Kuma's (or the existing) token
    description: str | None = None
    active: bool = True

    def __post_init__(self) -> None:
        if self.type not in REQUIRED:
            raise ValueError(f"monitor {self.name!r}: type {self.type!r} is not one of {', '.join(REQUIRED)}")
        missing = [name for name in REQUIRED[self.type] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"monitor {self.name!r}: a {self.type} monitor needs {', '.join(missing)}")
        if self.interval < 20 or self.retry_interval < 20:
            raise ValueError(f"monitor {self.name!r}: Uptime Kuma's shortest interval is 20 s")

    def fields(self) -> dict[str, Any]:
        """The monitor's fields as Kuma names them (the library's keyword arguments)."""
        values: dict[str, Any] = {
            "type": self.type, "name": self.name, "url": self.url, "hostname": self.hostname, "port": self.port,
            "keyword": self.keyword, "interval": self.interval, "retryInterval": self.retry_interval,
            "maxretries": self.max_retries, "timeout": self.timeout, "ignoreTls": self.ignore_tls,
            "accepted_statuscodes": list(self.accepted_statuscodes), "dns_resolve_server": self.dns_resolve_server,
            "dns_resolve_type": self.dns_resolve_type, "description": self.description}
        if self.type == "dns" and self.port is None:
            values["port"] = 53  # what the library sends, so that the next comparison agrees
        if self.type == "docker":
            values |= {"docker_container": self.docker_container, "docker_host": self.docker_host}
        if self.push_token is not None:
            values["pushToken"] = self.push_token
        return values


@dataclass(frozen=True)
class Target:
    """One scrape target: `job` on `host` at `address` (ADDRESS:PORT)."""

    job: str
    host: Host
    address: str

    @property
    def labels(self) -> dict[str, str]:
        return {"host": self.host.name, "role": self.host.role, "availability": self.host.availability}


def first_tcp_port(service: Service) -> int | None:
    return next((p.port for p in service.ports if p.protocol == "tcp"), None)


def scrape_targets(inventory: Inventory, job: str | None = None) -> list[Target]:
    """Every (job, host) Prometheus must scrape, in inventory order; only `job`'s when given."""
    found = []
    for name, service_name in JOBS.items():
        service = inventory.services.get(service_name)
        port = first_tcp_port(service) if service else None
        if service is None or port is None or job not in (None, name):
            continue
        found += [Target(name, h, f"{h.address}:{port}") for h in inventory.hosts_of(service)]
    return found


def target_for(inventory: Inventory, service: Service, host: Host) -> Target | None:
    """The scrape target of an exporter instance (None for a service that is not an exporter)."""
    return next((t for t in scrape_targets(inventory) if JOBS[t.job] == service.name and t.host == host), None)


def file_sd_name(job: str) -> str:
    return f"{TARGETS_DIR}/{job}-inventory.json"


def file_sd_groups(inventory: Inventory, job: str) -> list[dict[str, object]]:
    """The file_sd document of `job`: one target group per host."""
    return [{"targets": [t.address], "labels": t.labels} for t in scrape_targets(inventory, job)]


def file_sd_files(inventory: Inventory) -> dict[str, bytes]:
    """stack-relative path -> content of every file_sd file (a job without targets gets an empty list)."""
    return {file_sd_name(job): (json.dumps(file_sd_groups(inventory, job), indent=2) + "\n").encode()
            for job in JOBS}


def dashboards(directory: Path = DASHBOARDS_DIR) -> dict[str, str]:
    """uid -> title of every dashboard kept in stacks/monitoring/grafana/dashboards."""
    found = {}
    for path in sorted(directory.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        found[str(board["uid"])] = str(board.get("title") or path.stem)
    return found


def monitor_name(service: Service, host: Host) -> str:
    return f"{service.name}@{host.name}"


def monitor_spec(service: Service, host: Host, every: int = MONITOR_INTERVAL) -> MonitorSpec | None:
    """The Uptime Kuma monitor of one service instance, checked every `every` seconds (and as often again while
    it is down); None when it publishes nothing to probe."""
    name = monitor_name(service, host)
    upstream = service.upstream
    if upstream is not None and upstream.scheme == "http":
        return MonitorSpec(name, type="http", url=f"http://{host.address}:{upstream.port}/",
                           accepted_statuscodes=("200-299", "300-399"), interval=every, retry_interval=every,
                           description=MANAGED)
    port = upstream.port if upstream is not None else first_tcp_port(service)
    if port is None:
        return None
    return MonitorSpec(name, type="port", hostname=str(host.address), port=port, interval=every,
                       retry_interval=every, description=MANAGED)


def monitors(inventory: Inventory) -> list[MonitorSpec]:
    """Every monitor Uptime Kuma must have, in inventory order."""
    every = inventory.settings.monitor_interval
    return [m for s, h in inventory.instances() if (m := monitor_spec(s, h, every)) is not None]


def describe(spec: MonitorSpec) -> str:
    """`http http://198.51.100.10:3000/` or `port 198.51.100.20:9100`, for step names and messages."""
    return f"http {spec.url}" if spec.type == "http" else f"{spec.type} {spec.hostname}:{spec.port}"
