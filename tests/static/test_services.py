"""Static specs for each service of each stack's compose.yaml: image, healthcheck, restart, name, socket, host access,
secrets.

Parametrized over (stack, service) from the compose files themselves; ids read `platform/portainer`.
A stack whose compose file cannot be read shows up once per check as `STACK/(unparsed)` and fails with the
reason. The checks live in homelab.checks.static_services, where the selftests prove each one fails when broken.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.checks import static, static_services
from homelab.checks.static import expect_no_problems

pytestmark = pytest.mark.static

REPO = static.repository(Path(__file__).parents[2])
SERVICES = [pytest.param(stack, service, id=f"{stack}/{service}") for stack, service in REPO.service_ids()]


@pytest.mark.spec("S-SVC-001", severity="high",
                  fix="pin the image to the version you tested (NAME:1.2.3) or a digest (NAME@sha256:...)")
@pytest.mark.parametrize(("stack", "service"), SERVICES)
def test_image_pinned(stack: str, service: str) -> None:
    """Every image is pinned to a version tag or a digest: never `latest`, never untagged."""
    expect_no_problems(REPO.check_service(static_services.image_pinned, stack, service))


@pytest.mark.spec("S-SVC-002", severity="medium",
                  fix='add a healthcheck that works in the image, or disable it with the label `homelab.healthcheck: '
                      '"none: <why>"`')
@pytest.mark.parametrize(("stack", "service"), SERVICES)
def test_healthcheck_defined(stack: str, service: str) -> None:
    """Every service has a healthcheck, or disables it with a `homelab.healthcheck: "none: <reason>"` label."""
    expect_no_problems(REPO.check_service(static_services.healthcheck_defined, stack, service))


@pytest.mark.spec("S-SVC-003", severity="medium", fix="add `restart: unless-stopped`")
@pytest.mark.parametrize(("stack", "service"), SERVICES)
def test_restart_policy(stack: str, service: str) -> None:
    """Every service restarts by itself: `restart: unless-stopped` or `always`."""
    expect_no_problems(REPO.check_service(static_services.restart_policy, stack, service))


@pytest.mark.spec("S-SVC-004", severity="low", fix="set `container_name:` to the service key")
@pytest.mark.parametrize(("stack", "service"), SERVICES)
def test_container_name_matches(stack: str, service: str) -> None:
    """Every container is named after its service key, so specs and operators find it by that name."""
    expect_no_problems(REPO.check_service(static_services.container_name_matches, stack, service))


@pytest.mark.spec("S-SVC-005", severity="critical",
                  fix="remove the Docker socket mount (or `use_api_socket`), or grant it in inventory.yaml "
                      "services.NAME.docker_socket; `:ro` where it says ro")
@pytest.mark.parametrize(("stack", "service"), SERVICES)
def test_docker_socket_allowed(stack: str, service: str) -> None:
    """The Docker socket is mounted only where the inventory's `docker_socket` allows, read-only where it says ro."""
    expect_no_problems(REPO.check_service(static_services.socket_allowed, stack, service))


@pytest.mark.spec("S-SVC-006", severity="critical",
                  fix="remove privileged / `pid: host` / `network_mode: host` / the bind mount of `/`, or allow that "
                      "item in inventory.yaml services.NAME.host_access")
@pytest.mark.parametrize(("stack", "service"), SERVICES)
def test_host_access_allowed(stack: str, service: str) -> None:
    """privileged, `pid: host`, `network_mode: host` or a bind mount of `/` only where the inventory's `host_access`
    allows that item (EXP-CTR-004 holds the running containers to the same)."""
    expect_no_problems(REPO.check_service(static_services.host_access_allowed, stack, service))


@pytest.mark.spec("S-SVC-007", severity="critical",
                  fix="write the secret as `${VAR:?set VAR in .env}` (environment, command or entrypoint), put the "
                      "value in .env (from 1Password), and rotate the value that was in the file")
@pytest.mark.parametrize(("stack", "service"), SERVICES)
def test_secrets_are_references(stack: str, service: str) -> None:
    """Secret-named environment variables hold only a `${VAR}` or `${VAR:?message}` reference, never a value."""
    expect_no_problems(REPO.check_service(static_services.secrets_referenced, stack, service))


@pytest.mark.spec("S-SVC-008", severity="critical",
                  fix="remove the 2375/2376 port: Portainer reaches engines through its agents")
@pytest.mark.parametrize(("stack", "service"), SERVICES)
def test_no_docker_api_port(stack: str, service: str) -> None:
    """No service publishes the Docker API ports 2375 or 2376."""
    expect_no_problems(REPO.check_service(static_services.no_docker_api_port, stack, service))
