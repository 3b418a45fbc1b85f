"""Phase 4: Grafana is healthy, its Prometheus datasource is the one provisioned from the repo and answers, and
every dashboard kept in stacks/monitoring/grafana/dashboards is in Grafana by its UID, provisioned from there.

Grafana is asked at the platform's address on 3000, signed in as admin with GRAFANA_ADMIN_PASSWORD.
"""

from __future__ import annotations

import pytest

from homelab.checks import problem
from homelab.checks.reach import service_host
from homelab.model import monitoring
from homelab.model.yamlfile import load_yaml

pytestmark = pytest.mark.phase4

PHASE4 = "re-run `python -m bootstrap phase4`"
PROVISIONING = monitoring.MONITORING / "grafana" / "provisioning"
DATASOURCE_FIELDS = ("type", "url", "access", "isDefault")


def provisioned_datasource() -> dict:
    """The datasource with uid `prometheus`, as the repo provisions it."""
    data, _ = load_yaml(PROVISIONING / "datasources" / "prometheus.yaml")
    return next(d for d in data["datasources"] if d.get("uid") == monitoring.DATASOURCE_UID)


@pytest.mark.spec("P4-GF-001", severity="high", fix=f"start Grafana: {PHASE4}; read `docker logs grafana`")
@pytest.mark.each("instance", service="grafana")
def test_grafana_healthy(instance, grafana):
    """Grafana answers /api/health with its database ok."""
    found = grafana.ask("/api/health", lambda g: g.health())
    assert found.get("database") == "ok", problem(expected="database ok", found=str(found) or "no answer",
                                                  where=f"{grafana.url}/api/health",
                                                  fix=f"read `docker logs grafana` on {instance.host.name}; {PHASE4}")


@pytest.mark.spec("P4-GF-002", severity="high",
                  fix=f"keep the datasource in stacks/monitoring/grafana/provisioning/datasources; {PHASE4}")
@pytest.mark.each("instance", service="grafana")
def test_datasource_provisioned(instance, grafana):
    """Grafana has the Prometheus datasource with uid `prometheus`, as the repo provisions it (type, URL, access,
    default): the dashboards refer to it by that uid."""
    uid = monitoring.DATASOURCE_UID
    found = grafana.ask(f"the datasource {uid}", lambda g: g.datasource(uid))
    wanted = provisioned_datasource()
    diffs = ["no datasource with that uid"] if found is None else [
        f"{key} {found.get(key)!r} (the repo: {wanted.get(key)!r})" for key in DATASOURCE_FIELDS
        if found.get(key) != wanted.get(key)]
    assert not diffs, problem(expected=f"datasource uid {uid} as in stacks/monitoring", found="; ".join(diffs),
                              where=f"{grafana.url}/api/datasources/uid/{uid}",
                              fix=f"restart Grafana so it provisions again (`docker restart grafana` on "
                              f"{instance.host.name}); {PHASE4}")


@pytest.mark.spec("P4-GF-003", severity="high",
                  fix="let Grafana reach Prometheus (http://prometheus:9090 on the stack's network); start Prometheus")
@pytest.mark.each("instance", service="grafana")
def test_datasource_works(instance, grafana):
    """The Prometheus datasource works: Grafana's own health check of it (a query through it) succeeds."""
    uid = monitoring.DATASOURCE_UID
    works, message = grafana.ask(f"the health of datasource {uid}", lambda g: g.datasource_health(uid))
    assert works, problem(expected="status OK (Successfully queried the Prometheus API)", found=message,
                          where=f"{grafana.url}/api/datasources/uid/{uid}/health",
                          fix=f"start Prometheus on {instance.host.name} ({PHASE4}); check `docker logs grafana`")


@pytest.mark.spec("P4-GF-004", severity="medium",
                  fix=f"keep the dashboard's JSON in stacks/monitoring/grafana/dashboards; {PHASE4}")
@pytest.mark.parametrize("uid", list(monitoring.dashboards()))
def test_dashboard_present(uid, inventory, grafana):
    """Every dashboard kept in stacks/monitoring/grafana/dashboards is in Grafana by its UID, provisioned from the
    stack's folder (so the repo's version is the one shown)."""
    title = monitoring.dashboards()[uid]
    found = grafana.ask(f"the dashboard {uid}", lambda g: g.dashboard(uid))
    if found is None:
        state = "no dashboard with that uid"
    elif not found.get("meta", {}).get("provisioned"):
        state = "there, but not provisioned from the stack's folder (its file is gone from the host)"
    else:
        state = "provisioned"
    host = service_host(inventory, "grafana")
    assert state == "provisioned", problem(
        expected=f"dashboard {uid} ({title}) provisioned", found=state, where=f"{grafana.url}/api/dashboards/uid/{uid}",
        fix=f"{PHASE4}: it puts stacks/monitoring/grafana/dashboards/*.json in /opt/homelab/stacks/monitoring on "
        f"{host.name}, which Grafana re-reads every minute")


LOGIN_ONLY = ("set GF_AUTH_ANONYMOUS_ENABLED=false and GF_USERS_ALLOW_SIGN_UP=false in stacks/monitoring/compose.yaml "
              f"(as the repo has them) and {PHASE4}, which recreates Grafana")


@pytest.mark.spec("P4-GF-005", severity="high", fix=LOGIN_ONLY)
@pytest.mark.each("instance", service="grafana")
def test_no_anonymous_access_or_sign_up(instance, grafana):
    """Grafana itself says anonymous access is off and nobody can sign up (its frontend settings, read as admin):
    every user is one the admin made."""
    found = grafana.ask("/api/frontend/settings", lambda g: g.frontend_settings())
    wanted = {"anonymousEnabled": False, "disableUserSignUp": True}
    wrong = [f"{key} {found.get(key)!r}" for key, value in wanted.items() if found.get(key) is not value]
    assert not wrong, problem(expected="anonymousEnabled false, disableUserSignUp true", found="; ".join(wrong),
                              where=f"{grafana.url}/api/frontend/settings", fix=LOGIN_ONLY)
