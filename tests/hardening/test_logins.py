"""Every management UI requires a login: a request without credentials to each service's API, through NPM by its
name (TLS verified), is refused as the upstream server refuses it. Services with no login at all (Prometheus,
Ollama) are the report's accepted risks: their exposure specs are their only guard."""

from __future__ import annotations

import httpx
import pytest

from homelab.checks import could_not_observe, problem
from homelab.checks.logins import LOGINS, NO_LOGIN
from homelab.checks.reach import service_host
from homelab.checks.tls import get_by_name

pytestmark = pytest.mark.hardening

LOGIN_FIX = ("turn the service's authentication back on (Grafana: GF_AUTH_ANONYMOUS_ENABLED=false; Open WebUI: "
             "WEBUI_AUTH=true; the others cannot turn it off) and redeploy its stack with bootstrap")


@pytest.mark.spec("HARD-AUTH-001", severity="critical", fix=LOGIN_FIX)
@pytest.mark.each("fqdn", service__not=tuple(NO_LOGIN))  # no login to ask for: the report's accepted risks
def test_api_refuses_anonymous(fqdn, inventory, on):
    """The service's API, asked through its name without credentials, refuses (401/403, or Technitium's
    invalid-token), so that reaching the name is never enough to administer it; where the server tells visitors
    whether it asks for a login at all (Open WebUI's /api/config), it says it does."""
    service = fqdn.instance.service.name
    on.service(fqdn.instance)  # off by design (an on-demand host off, gaming mode): skipped, as its other specs
    login = LOGINS.get(service)
    assert login is not None, (
        f"{service} ({fqdn.name}) has no known unauthenticated request: add what its API refuses to "
        "homelab/checks/logins.py (or to NO_LOGIN, as an accepted risk the report lists)")
    npm = service_host(inventory, "npm")
    where = f"GET https://{fqdn.name}{login.path} without credentials, via NPM at {npm.address}:443"
    start = (f"; fix: make {service} answer through its name (is it running on {fqdn.instance.host.name}? does NPM's "
             "certificate for the name verify? see NAME-TLS-001 and NAME-PROXY-001)")
    answer = _ask(inventory, npm, fqdn.name, login.path, where, start)
    refused = " or ".join(map(str, login.refused)) if not login.json_status else f'{{"status": "{login.json_status}"}}'
    assert login.refuses(answer.status_code, answer.text), problem(
        expected=f"a refusal ({refused})", found=f"HTTP {answer.status_code}: {answer.text[:120]!r}", where=where,
        fix=LOGIN_FIX)
    if login.auth_flag:
        path, key = login.auth_flag
        said = _ask(inventory, npm, fqdn.name, path, f"GET https://{fqdn.name}{path}", start)
        off = login.login_off(said.text)
        if off is None:
            pytest.fail(could_not_observe(f"{path} does not say {key} (HTTP {said.status_code}: {said.text[:120]!r})",
                                          npm.name, f"GET https://{fqdn.name}{path}") + start, pytrace=False)
        assert not off, problem(expected=f"{key} true (a login required)",
                                found=f"{key} false: anyone who reaches the name signs in as its admin",
                                where=f"GET https://{fqdn.name}{path} via NPM at {npm.address}:443", fix=LOGIN_FIX)


def _ask(inventory, npm, name: str, path: str, where: str, fix: str) -> httpx.Response:
    """GET https://NAME/PATH through NPM, TLS verified: the service's own answer, or the spec fails as could not
    observe (no answer, or a 5xx from the proxy)."""
    try:
        answer = get_by_name(str(npm.address), name, path, inventory.settings.ca_bundle,
                             inventory.settings.connect_timeout * 3)
    except httpx.HTTPError as exc:
        pytest.fail(could_not_observe(f"no answer ({type(exc).__name__}: {exc})", npm.name,
                                      "this machine, TLS verified") + fix, pytrace=False)
    if answer.status_code >= 500:
        pytest.fail(could_not_observe(f"HTTP {answer.status_code} from the proxy, not the service's own answer",
                                      npm.name, where) + fix, pytrace=False)
    return answer
