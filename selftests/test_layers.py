"""The rooms of homelab/ and bootstrap/ import downward only (docs/architecture.md, "The rooms"): read from every
module's own imports, lazy ones inside functions included, so a move that breaks a floor fails here first."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from homelab.model.paths import REPO

# Each room of homelab/ and the rooms it may import besides itself. transport and clients are one floor: neither
# imports the other (transport reaches hosts, clients reach services).
HOMELAB = {
    "model": set(),
    "transport": {"model"},
    "clients": {"model"},
    "checks": {"model", "transport", "clients"},
    "report": {"model", "transport", "clients", "checks"},
    "specs": {"model", "transport", "clients", "checks", "report"},
}
PHASES = {"phase1", "phase2", "phase3", "phase4"}
COMMANDS = {"__main__", "gaming"}  # bootstrap's own commands: `python -m bootstrap`, `python -m bootstrap.gaming`


def imported(path: Path) -> set[str]:
    """Every module that `path` imports, absolute, as far as the project's own packages go."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from homelab import x` names a module
    return {name for name in found if name.split(".")[0] in ("homelab", "bootstrap", "lab")} - {"homelab", "bootstrap"}


def modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def room(module: str) -> str:
    """`homelab.checks.reach` -> `checks`; `bootstrap.phase1.dns` -> `phase1`; `bootstrap.steps` -> `steps`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_homelab_has_only_its_rooms() -> None:
    """Every module of homelab/ lives in one of its rooms (the package's own __init__.py aside)."""
    loose = [p.name for p in (REPO / "homelab").glob("*.py") if p.name != "__init__.py"]
    rooms = {p.name for p in (REPO / "homelab").iterdir() if (p / "__init__.py").exists()}
    assert loose == []
    assert rooms == set(HOMELAB)


@pytest.mark.parametrize("path", modules("homelab"), ids=lambda p: p.relative_to(REPO).as_posix())
def test_homelab_imports_downward_only(path: Path) -> None:
    """A room of homelab/ imports itself and the rooms below it; homelab never imports bootstrap or the lab."""
    own = path.relative_to(REPO / "homelab").parts[0]
    if own == "__init__.py":
        return
    allowed = HOMELAB[own] | {own}
    upward = sorted(m for m in imported(path) if not m.startswith("homelab.") or room(m) not in allowed)
    assert upward == [], f"{path.relative_to(REPO)} ({own}/) may import {sorted(allowed)} of homelab only"


@pytest.mark.parametrize("path", modules("bootstrap"), ids=lambda p: p.relative_to(REPO).as_posix())
def test_bootstrap_phases_stand_on_shared_rooms(path: Path) -> None:
    """A phase imports no other phase; services/ and the shared steps import no phase (only the commands do);
    bootstrap never imports the lab."""
    own = path.relative_to(REPO / "bootstrap").parts[0].removesuffix(".py")
    if own in COMMANDS or own == "__init__":
        return
    wrong = sorted(m for m in imported(path)
                   if m.startswith("lab") or (m.startswith("bootstrap.") and room(m) in PHASES - {own}))
    assert wrong == [], f"{path.relative_to(REPO)} imports another phase or the lab"
