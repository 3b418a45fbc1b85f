"""Static specs that the inventory is valid and agrees with the stacks: services, stacks and published ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.checks import static, static_services
from homelab.checks.static import expect_no_problems

pytestmark = pytest.mark.static

REPO = static.repository(Path(__file__).parents[2])
SERVICES = [pytest.param(stack, service, id=f"{stack}/{service}") for stack, service in REPO.service_ids()]


@pytest.mark.spec("S-INV-001", severity="critical",
                  fix="fix inventory.yaml at the file, line and field the message names")
def test_inventory_valid() -> None:
    """inventory.yaml at the repository root loads and validates."""
    expect_no_problems(static.inventory_valid(REPO))


@pytest.mark.spec("S-INV-002", severity="high",
                  fix="add the service to its stack's compose.yaml, or fix the inventory's `stack:`")
@pytest.mark.parametrize("name", REPO.inventory_service_names())
def test_inventory_service_in_stack(name: str) -> None:
    """Every inventory service exists in the compose file of the stack the inventory names."""
    expect_no_problems(static.inventory_service_in_stack(REPO, name))


@pytest.mark.spec("S-INV-003", severity="high",
                  fix="add the service to inventory.yaml under this stack, or rename the compose service")
@pytest.mark.parametrize(("stack", "service"), SERVICES)
def test_compose_service_in_inventory(stack: str, service: str) -> None:
    """Every compose service is in the inventory, under the stack whose folder holds it."""
    expect_no_problems(REPO.check_service(static_services.in_inventory, stack, service))


@pytest.mark.spec("S-INV-004", severity="high",
                  fix="publish exactly the inventory's ports (number and protocol), or change the inventory")
@pytest.mark.parametrize(("stack", "service"), SERVICES)
def test_published_ports_match_inventory(stack: str, service: str) -> None:
    """Every service publishes exactly the inventory's ports (number and protocol), no more, no fewer."""
    expect_no_problems(REPO.check_service(static_services.ports_match_inventory, stack, service))
