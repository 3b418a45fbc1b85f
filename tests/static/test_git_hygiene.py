"""Static specs over the whole checkout: no secrets file in git, no Docker engine listening on TCP."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.checks import static
from homelab.checks.static import expect_no_problems

pytestmark = pytest.mark.static

REPO = static.repository(Path(__file__).parents[2])


@pytest.mark.spec("S-GIT-001", severity="critical",
                  fix="`git rm --cached FILE`, keep it ignored, and rotate every secret it held")
def test_no_env_file_tracked() -> None:
    """No .env file is tracked by git: secret values live in 1Password and untracked .env files."""
    expect_no_problems(static.no_env_files_tracked(REPO))


@pytest.mark.spec("S-GIT-002", severity="critical",
                  fix="remove the TCP host (`-H tcp://`, daemon.json `hosts`); reach engines through the Portainer "
                      "agent or ssh://")
def test_no_dockerd_tcp_listener() -> None:
    """No file in the repository configures dockerd to listen on TCP (`-H tcp://`, daemon.json hosts)."""
    expect_no_problems(static.no_dockerd_tcp(REPO))
