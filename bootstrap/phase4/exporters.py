"""Phase 4 on each Docker host: the `exporters` stack (node-exporter, cAdvisor), and on the platform VM the
`monitoring` stack (Prometheus, Grafana) with its generated file_sd targets; then the host's firewall.

The firewall is computed from every port the inventory publishes on the host (homelab.model.firewall), so re-applying
it here agrees with phases 1 to 3; it already admits 9100, 8080, 9090 and 3000 from LAN and VPN only.
"""

from __future__ import annotations

from bootstrap import engine, hostfirewall
from bootstrap.gitstacks import git_stack_step
from bootstrap.phase4.grafana import grafana_steps
from bootstrap.remote import Remote
from bootstrap.services.portainer import PortainerAccess
from bootstrap.stack import Ready, Stack, deploy_step, files_step
from bootstrap.steps import Step
from homelab.clients import connect
from homelab.clients.grafana import GrafanaError
from homelab.clients.prometheus import PrometheusError
from homelab.model import monitoring
from homelab.model.gitops import edge_deploys, portainer_deploys

EXPORTERS = "exporters"
MONITORING = "monitoring"
PATHS = {"node-exporter": "/metrics", "cadvisor": "/healthz"}  # what each exporter answers 200 on when ready


def exporters_answer(remote: Remote) -> bool:
    """node-exporter and cAdvisor answer on the host itself (their published ports, from the inventory)."""
    for name, path in PATHS.items():
        service = remote.inventory.services.get(name)
        port = monitoring.first_tcp_port(service) if service else None
        if port is None:
            continue
        code = remote.try_run(f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 http://127.0.0.1:{port}{path}",
                              root=False).stdout.strip()
        if code != "200":
            return False
    return True


def monitoring_answers(remote: Remote) -> bool:
    """Prometheus is ready and Grafana healthy, asked from here as the LAN asks them."""
    inventory, timeout = remote.inventory, max(remote.inventory.settings.connect_timeout, 5.0)
    try:
        with connect.prometheus(inventory, timeout=timeout) as prometheus:
            if not prometheus.ready():
                return False
        with connect.grafana(inventory, None, timeout=timeout) as grafana:
            return grafana.health().get("database") == "ok"
    except (PrometheusError, GrafanaError):
        return False


def monitoring_stack(remote: Remote) -> Stack:
    """The monitoring stack with the file_sd targets generated from the inventory (re-read by Prometheus)."""
    return Stack(remote, MONITORING, generated=lambda: monitoring.file_sd_files(remote.inventory),
                 exclusive=(monitoring.TARGETS_DIR,))


def host_steps(remote: Remote, access: PortainerAccess) -> list[Step]:
    """Docker, the host's phase-4 stacks (deployed by Portainer from Git, or directly: bootstrap.gitstacks), and
    its firewall last."""
    def deploy(stack: Stack, ready: Ready, not_ready: str) -> Step:
        if portainer_deploys(remote.inventory, remote.host, stack.name):
            return git_stack_step(stack, access, ready, not_ready)
        return deploy_step(stack, ready, not_ready)

    found = [*engine.steps(remote)]
    if EXPORTERS in remote.host.stacks and not edge_deploys(remote.inventory, remote.host, EXPORTERS):
        # (on an Edge host it is an Edge stack: bootstrap.edgestacks, one step for all of them)
        stack = Stack(remote, EXPORTERS)
        found += [files_step(stack), deploy(stack, lambda: exporters_answer(remote),
                                            "node-exporter (/metrics) or cAdvisor (/healthz) does not answer")]
    if MONITORING in remote.host.stacks:
        stack = monitoring_stack(remote)
        found += [files_step(stack), deploy(stack, lambda: monitoring_answers(remote),
                                            "Prometheus is not ready (/-/ready) or Grafana not healthy"),
                  *grafana_steps(remote)]
    return [*found, *hostfirewall.steps(remote)]
