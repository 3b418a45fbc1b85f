"""Where the repository lies: the one place that works it out from a module's own file.

The product reads files the repository keeps beside it (the compose stacks of stacks/, the seed inventory), so
it runs from a source tree or an editable install (`pip install -e .`). Everything else (bootstrap, the lab,
scripts) imports these; homelab itself imports nothing of theirs.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # homelab/model/paths.py
STACKS = REPO / "stacks"


def stack_dir(stack: str) -> Path:
    """stacks/STACK: the folder bootstrap deploys as compose project STACK."""
    return STACKS / stack
