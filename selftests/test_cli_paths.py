"""Paths given on the command line: `pytest --inventory PATH` for any PATH (the plugin's options come from its
entry point), `--env-file` that must exist (pytest and `python -m bootstrap`), and deploy/compliance.sh's
robust form. None of these needs a host."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap.__main__ import open_secrets
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.model.secrets import SecretError, Secrets
from homelab.specs.pytest_plugin import _joined

ENV_VARS = ("HOMELAB_INVENTORY", "HOMELAB_ENV_FILE", "HOMELAB_WAIVERS", "HOMELAB_REPORT_DIR")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """`python ARGS` from the repository root, without the caller's HOMELAB_* settings."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
                          check=False)


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's inventory in a directory outside the repository."""
    directory = tmp_path_factory.mktemp("elsewhere")
    assert REPO not in directory.parents
    shutil.copy(REPO / "inventory.yaml", directory / "inventory.yaml")
    return directory / "inventory.yaml"


# -- pytest --inventory PATH -----------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["split", "joined"])
def test_inventory_outside_the_repository(elsewhere: Path, form: str) -> None:
    """`pytest --inventory PATH` and `--inventory=PATH` with PATH outside the repository: the static specs are
    collected from tests/ with the repository as rootdir (ids relative to it), not "unrecognized arguments"."""
    option = ["--inventory", str(elsewhere)] if form == "split" else [f"--inventory={elsewhere}"]
    done = run("-m", "pytest", *option, "-m", "static", "--co", "-q", "-p", "no:cacheprovider")
    output = done.stdout + done.stderr
    assert "unrecognized arguments" not in output
    assert done.returncode == 0, output[-3000:]
    assert re.search(r"^tests/static/test_\w+\.py::", done.stdout, re.MULTILINE), output[-3000:]
    assert re.search(r"^\d+/\d+ tests collected", done.stdout, re.MULTILINE), output[-3000:]


def test_inventory_outside_the_repository_is_the_one_read(elsewhere: Path) -> None:
    """The PATH is the inventory read: a missing one outside the repository is a usage error naming it."""
    missing = elsewhere.parent / "missing" / "inventory.yaml"
    done = run("-m", "pytest", "--inventory", str(missing), "-m", "static", "--co", "-q", "-p", "no:cacheprovider")
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert str(missing) in done.stderr
    assert "unrecognized arguments" not in done.stderr


def test_report_dir_outside_the_repository(elsewhere: Path) -> None:
    """The nightly form: inventory and report directory both outside the repository, given as separate words."""
    reports = elsewhere.parent / "reports"
    done = run("-m", "pytest", "--inventory", str(elsewhere), "--report-dir", str(reports), "-m", "static",
               "-k", "test_inventory_valid", "-q", "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert (reports / "report.html").is_file()


def test_env_file_must_exist_for_pytest(tmp_path: Path) -> None:
    """`pytest --env-file PATH` with no such file: a usage error (exit 4) naming it, not a run without secrets."""
    missing = tmp_path / "mistyped.env"
    done = run("-m", "pytest", "--env-file", str(missing), "-m", "static", "--co", "-q", "-p", "no:cacheprovider")
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"{missing}: the env file does not exist" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("args", "joined"), [
    (["-m", "static"], None),
    (["--inventory=x.yaml", "-q"], None),
    (["--inventory", "/a/inventory.yaml", "-q"], ["--inventory=/a/inventory.yaml", "-q"]),
    (["--env-file", "e", "--waivers", "w", "--report-dir", "r", "tests/phase1"],
     ["--env-file=e", "--waivers=w", "--report-dir=r", "tests/phase1"]),
    (["--inventory", "i", "--", "--report-dir", "r"], ["--inventory=i", "--", "--report-dir", "r"]),
    (["--inventory"], None),
])
def test_split_options_are_joined(args: list[str], joined: list[str] | None) -> None:
    """Only the plugin's path options are joined, and nothing after `--`."""
    assert _joined(args) == joined


# -- python -m bootstrap --env-file PATH -------------------------------------------------------------------------
def test_bootstrap_missing_env_file_is_one_line() -> None:
    """A missing --env-file: one line naming the file, exit 2, before any plan or connection."""
    done = run("-m", "bootstrap", "phase1", "--inventory", "inventory.yaml", "--env-file", "/nonexistent", "--dry-run")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: /nonexistent: ")


def test_bootstrap_unreadable_env_file_is_one_line(tmp_path: Path) -> None:
    """An env file that cannot be read (here a directory): one line naming it, exit 2."""
    done = run("-m", "bootstrap", "phase1", "--env-file", str(tmp_path), "--dry-run")
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [f"error: {tmp_path}: cannot read the env file: "
                                        f"[Errno 21] Is a directory: '{tmp_path}'"]


def test_bootstrap_options_are_not_abbreviated() -> None:
    """A mistyped option is refused, not taken as the option it abbreviates (`--env` for `--env-file`)."""
    done = run("-m", "bootstrap", "phase1", "--env", "/nonexistent", "--dry-run")
    assert done.returncode == 2
    assert "unrecognized arguments: --env /nonexistent" in done.stderr


def test_bootstrap_env_file_reaches_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--env-file PATH is the file the phase's Secrets read; without it, the inventory's settings.env_file."""
    inventory = load_inventory(REPO / "inventory.yaml")
    name = next(iter(inventory.secrets))
    monkeypatch.delenv(name, raising=False)
    env = tmp_path / "given.env"
    env.write_text(f"{name}=from-the-given-env-file-5e1d\n")
    secrets = open_secrets(inventory, str(env))
    assert isinstance(secrets, Secrets)
    assert secrets.env_file == env
    assert secrets.get(name) == "from-the-given-env-file-5e1d"
    assert open_secrets(inventory, None).env_file == inventory.settings.env_file


def test_default_env_file_may_be_missing(tmp_path: Path) -> None:
    """The inventory's own env file may be absent (every secret exported); a file the user named may not."""
    assert Secrets({}, tmp_path / ".env").env_file == tmp_path / ".env"
    with pytest.raises(SecretError, match=r"given\.env: the env file does not exist"):
        Secrets({}, tmp_path / "given.env", required=True)


# -- deploy/compliance.sh --------------------------------------------------------------------------------------
def test_compliance_script_joins_its_path_options() -> None:
    """compliance.sh passes the inventory and the report directory as `--option=PATH`, which holds for any path."""
    script = (REPO / "deploy/compliance.sh").read_text()
    assert subprocess.run(["sh", "-n", str(REPO / "deploy/compliance.sh")], check=False).returncode == 0
    assert '"--inventory=${HOMELAB_INVENTORY:-inventory.yaml}"' in script
    assert '"--report-dir=$reports"' in script
    assert not re.search(r"--(inventory|report-dir|env-file|waivers)\s", script.split("\nrun()")[1])
