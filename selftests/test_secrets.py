"""Secrets: read from .env or the environment, resolved from 1Password, and always registered for masking."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.model.redact import MASK, REDACTOR
from homelab.model.secrets import SecretError, Secrets, read_env_file


def test_env_file_syntax(tmp_path: Path) -> None:
    """Comments, blank lines, `export` and quotes are understood."""
    env = tmp_path / ".env"
    env.write_text("# comment\n\nexport A=1\nB='two words'\nC=\"x=y\"\n")
    assert read_env_file(env) == {"A": "1", "B": "two words", "C": "x=y"}


def test_env_file_bad_line_names_file_and_line(tmp_path: Path) -> None:
    """A line without `=` is reported with its file and line number."""
    env = tmp_path / ".env"
    env.write_text("A=1\noops\n")
    with pytest.raises(SecretError, match=r"\.env:2: expected KEY=VALUE"):
        read_env_file(env)


def test_environment_wins_over_file(tmp_path: Path) -> None:
    """An exported variable overrides the file, as with docker compose."""
    env = tmp_path / ".env"
    env.write_text("TOKEN=from-file\n")
    assert Secrets({"TOKEN": ""}, env, environ={"TOKEN": "from-environment"}).get("TOKEN") == "from-environment"


def test_missing_secret_names_variable_and_file(tmp_path: Path) -> None:
    """A missing value says which variable and which file."""
    with pytest.raises(SecretError) as info:
        Secrets({"TOKEN": "the token"}, tmp_path / ".env", environ={}).get("TOKEN")
    assert str(info.value) == (f"secret TOKEN is not set: add `TOKEN=...` to {tmp_path / '.env'} "
                               "(see .env.example), or export TOKEN")


def test_values_are_registered_for_masking(tmp_path: Path) -> None:
    """Every value read from .env is masked in any text, named in the inventory or not."""
    env = tmp_path / ".env"
    env.write_text("UNLISTED=masked-even-if-unlisted-77\n")
    Secrets({}, env, environ={})
    assert REDACTOR("x masked-even-if-unlisted-77 y") == f"x {MASK} y"


def _fake_op(bin_dir: Path, script: str) -> None:
    op = bin_dir / "op"
    op.write_text("#!/bin/sh\n" + script)
    op.chmod(op.stat().st_mode | stat.S_IEXEC)


def test_op_reference_resolved_with_1password_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`op://vault/item/field` values are read with `op read`, and the result is masked too."""
    _fake_op(tmp_path, 'test "$1 $2 $3" = "read --no-newline op://homelab/agent/secret" && printf resolved-42\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    secrets = Secrets({"AGENT_SECRET": ""}, tmp_path / ".env", environ={"AGENT_SECRET": "op://homelab/agent/secret"})
    assert secrets.get("AGENT_SECRET") == "resolved-42"
    assert REDACTOR("resolved-42") == MASK


def test_op_reference_without_cli_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the 1Password CLI, an op:// value says what to install."""
    monkeypatch.setenv("PATH", str(tmp_path))
    secrets = Secrets({"X": ""}, tmp_path / ".env", environ={"X": "op://v/i/f"})
    with pytest.raises(SecretError, match="the 1Password CLI `op` is not installed"):
        secrets.get("X")


def test_op_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing `op read` reports its last error line."""
    _fake_op(tmp_path, 'echo "[ERROR] item not found" >&2; exit 1\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    secrets = Secrets({"X": ""}, tmp_path / ".env", environ={"X": "op://v/i/f"})
    with pytest.raises(SecretError, match=r"`op read op://v/i/f` failed: \[ERROR\] item not found"):
        secrets.get("X")


def test_lab_leaves_optional_secrets_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab invents a value for each secret of the inventory except the optional ones (UPTIME_KUMA_API_KEY):
    a made-up API key would make the phase 4 specs send it to Kuma's /metrics and be refused."""
    from lab import keys

    monkeypatch.setattr(keys, "ENV_FILE", tmp_path / ".env")
    inventory = load_inventory(REPO / "inventory.yaml")
    written = read_env_file(keys.ensure_env(inventory.secrets, "home.lan"))
    assert "UPTIME_KUMA_API_KEY" not in written
    assert len(written["UPTIME_KUMA_PASSWORD"]) >= 8
    assert inventory.secrets["UPTIME_KUMA_API_KEY"].startswith("optional:")
