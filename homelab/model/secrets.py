"""Secret values: named in the inventory, read from `.env` or the environment, resolved from 1Password.

Every value that passes through here is remembered by the redactor, so nothing the project prints, logs
or reports can carry it; a value shorter than `redact.MIN_LENGTH` is refused, since it could not be masked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from homelab.model.redact import MIN_LENGTH, REDACTOR

OP_PREFIX = "op://"
OP_TIMEOUT = 20.0


class SecretError(Exception):
    """A secret is missing or cannot be resolved; the message says which and where to put it."""


def read_env_file(path: Path, required: bool = False) -> dict[str, str]:
    """Parse a dotenv file: KEY=VALUE lines, `#` comments, optional `export` and quotes. A missing file has no
    values (the secrets may all be exported), unless it is `required` (a path the user gave): then it is an error."""
    values: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        if required:
            raise SecretError(f"{path}: the env file does not exist; expected a file of KEY=VALUE lines") from None
        return values
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"{path}: cannot read the env file: {exc}") from None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise SecretError(f"{path}:{number}: expected KEY=VALUE, found a line without '='")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


class Secrets:
    """The inventory's secrets, resolved lazily: a phase asks only for what it needs."""

    def __init__(self, names: Mapping[str, str], env_file: Path, environ: Mapping[str, str] | None = None,
                 required: bool = False) -> None:
        """`required`: the env file was named by the user (--env-file), so it must exist."""
        self.names = dict(names)
        self.env_file = env_file
        self._environ = os.environ if environ is None else environ
        self._file = read_env_file(env_file, required)
        self._resolved: dict[str, str] = {}
        for name, value in self._file.items():
            if not value.startswith(OP_PREFIX):
                _long_enough(name, value, f"in {env_file}")
            REDACTOR.add(value)  # anything in .env is treated as secret, named or not

    def get(self, name: str) -> str:
        """The value of secret `name`, from the environment first, then the env file."""
        if name in self._resolved:
            return self._resolved[name]
        raw = self._environ.get(name) or self._file.get(name)
        if not raw:
            known = "" if name in self.names else " (it is not listed under `secrets:` in the inventory either)"
            raise SecretError(
                f"secret {name} is not set{known}: add `{name}=...` to {self.env_file} "
                f"(see .env.example), or export {name}")
        if raw.startswith(OP_PREFIX):
            value = _resolve_op(name, raw)
            _long_enough(name, value, f"read from 1Password ({raw})")
        else:
            value = raw
            _long_enough(name, value, "in the environment" if self._environ.get(name) else f"in {self.env_file}")
        REDACTOR.add(value)
        self._resolved[name] = value
        return value

    def has(self, name: str) -> bool:
        return bool(self._environ.get(name) or self._file.get(name))


def _long_enough(name: str, value: str, where: str) -> None:
    """Refuse a value too short to mask: masking it would mask ordinary text too, so it could not be hidden."""
    if 0 < len(value) < MIN_LENGTH:
        raise SecretError(f"secret {name} {where} is {len(value)} characters long; a secret needs at least "
                          f"{MIN_LENGTH}, or it cannot be masked in output without masking ordinary text: "
                          "use a longer value")


def _resolve_op(name: str, reference: str) -> str:
    """Read a 1Password reference (op://vault/item/field) with the 1Password CLI."""
    op = shutil.which("op")
    if op is None:
        raise SecretError(
            f"secret {name} is a 1Password reference ({reference}) but the 1Password CLI `op` is not installed: "
            "install it (https://developer.1password.com/docs/cli) and sign in, or put the value itself in .env")
    try:
        done = subprocess.run([op, "read", "--no-newline", reference], capture_output=True, text=True,
                              timeout=OP_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise SecretError(f"secret {name}: `op read {reference}` did not answer in {OP_TIMEOUT:g} s; "
                          "is the 1Password CLI signed in (`op signin`)?") from None
    if done.returncode != 0 or not done.stdout:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise SecretError(f"secret {name}: `op read {reference}` failed: {reason}")
    return done.stdout
