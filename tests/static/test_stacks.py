"""Static specs for each stack folder: its files, a valid compose file, and an `.env.example` that matches it.

Parametrized over the stacks the inventory format knows (homelab.model.inventory.STACK_PHASES) and any other folder
under stacks/; ids are stack names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.checks import static
from homelab.checks.static import expect_no_problems

pytestmark = pytest.mark.static

REPO = static.repository(Path(__file__).parents[2])
STACKS = REPO.stacks()


@pytest.mark.spec("S-STACK-001", severity="low",
                  fix="add the missing file (compose.yaml, .env.example, README.md; see docs/stacks.md)")
@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_present(stack: str) -> None:
    """Every stack folder has compose.yaml, .env.example and README.md."""
    expect_no_problems(static.stack_files_present(REPO, stack))


@pytest.mark.spec("S-STACK-002", severity="high",
                  fix="fix the compose file at the line named: compose v2 keys only, no duplicate keys, every service "
                      "with an image, named volumes declared")
@pytest.mark.parametrize("stack", STACKS)
def test_compose_file_valid(stack: str) -> None:
    """Every compose.yaml parses strictly (no duplicate keys) and is structurally valid compose."""
    expect_no_problems(static.compose_valid(REPO, stack))


@pytest.mark.spec("S-STACK-003", severity="medium",
                  fix="add each `${VAR}` to the stack's .env.example with a placeholder and a comment naming its "
                      "source")
@pytest.mark.parametrize("stack", STACKS)
def test_variables_documented(stack: str) -> None:
    """Every `${VAR}` a compose file references is listed in the stack's .env.example."""
    expect_no_problems(static.variables_documented(REPO, stack))


@pytest.mark.spec("S-STACK-004", severity="low", fix="remove the variable from .env.example, or use it in compose.yaml")
@pytest.mark.parametrize("stack", STACKS)
def test_env_example_variables_used(stack: str) -> None:
    """Every variable of a stack's .env.example is used by its compose file."""
    expect_no_problems(static.env_example_used(REPO, stack))


@pytest.mark.spec("S-STACK-005", severity="low",
                  fix="add a comment above the variable saying where its value comes from (`# op://homelab/...`, or `# "
                      "not a secret: ...`)")
@pytest.mark.parametrize("stack", STACKS)
def test_env_example_commented(stack: str) -> None:
    """Every .env.example variable has a comment just above it saying where its value comes from."""
    expect_no_problems(static.env_example_commented(REPO, stack))


@pytest.mark.spec("S-STACK-006", severity="low",
                  fix="list the stack under some host's `stacks:` in inventory.yaml, or remove the folder")
@pytest.mark.parametrize("stack", STACKS)
def test_stack_deployed(stack: str) -> None:
    """Every stack folder is a stack the inventory knows and at least one host deploys."""
    expect_no_problems(static.stack_deployed(REPO, stack))
