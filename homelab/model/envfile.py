"""Write values into a dotenv file (the inventory's env file): other lines kept, mode 600, atomic replace."""

from __future__ import annotations

import os
from pathlib import Path

from homelab.model.redact import REDACTOR


def set_values(path: Path, values: dict[str, str]) -> None:
    """Set `values` in the env file at `path` (replacing their lines, appending new ones); never printed."""
    for value in values.values():
        REDACTOR.add(value)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    pending = dict(values)
    out = []
    for line in lines:
        name = line.removeprefix("export ").partition("=")[0].strip()
        if name in pending and not line.lstrip().startswith("#"):
            out.append(f"{name}={pending.pop(name)}")
        else:
            out.append(line)
    out += [f"{name}={value}" for name, value in pending.items()]
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write("\n".join(out) + "\n")
    partial.chmod(0o600)
    partial.replace(path)
