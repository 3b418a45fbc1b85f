"""`python -m bootstrap phaseN [--inventory PATH] [--env-file PATH] [--dry-run]`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bootstrap import phase1, phase2, phase3, phase4
from bootstrap.steps import Plan, StepFailed, run_steps
from homelab.clients.connect import NotInInventory
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import InventoryError, load_inventory
from homelab.model.redact import mask_streams, masked_output
from homelab.model.secrets import SecretError, Secrets
from homelab.transport.ssh import SSHError, SSHPool

# Each phase turns the inventory into its steps; the rollout, phase by phase: README.md, "Point it at your homelab".
PHASES: dict[str, Callable[[Inventory, Secrets, SSHPool], Plan]] = {
    "phase1": phase1.steps,
    "phase2": phase2.steps,
    "phase3": phase3.steps,
    "phase4": phase4.steps,
}


def open_secrets(inventory: Inventory, env_file: str | None) -> Secrets:
    """The inventory's secrets. `env_file` (--env-file) replaces the inventory's settings.env_file, and must exist:
    a mistyped path is an error, not a run without the file's values."""
    if env_file is None:
        return Secrets(inventory.secrets, inventory.settings.env_file)
    return Secrets(inventory.secrets, Path(env_file).expanduser(), required=True)


@masked_output()  # every line bootstrap prints, on stdout and stderr, has its secrets masked
def main(argv: list[str] | None = None) -> int:
    # No abbreviations: `--env` or `--inv` would otherwise be taken for `--env-file` or `--inventory`.
    parser = argparse.ArgumentParser(prog="python -m bootstrap", description=__doc__, allow_abbrev=False)
    parser.add_argument("phase", choices=["phase1", "phase2", "phase3", "phase4"])
    parser.add_argument("--inventory", default="inventory.yaml", help="the inventory (default: inventory.yaml)")
    parser.add_argument("--env-file", default=None,
                        help="the .env file with the secrets' values (default: the inventory's settings.env_file)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    args = parser.parse_args(argv)
    inventory_path: str = args.inventory
    env_file: str | None = args.env_file
    try:
        inventory = load_inventory(inventory_path)
        secrets = open_secrets(inventory, env_file)
    except (InventoryError, SecretError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    plan = PHASES.get(args.phase)
    if plan is None:
        print(f"error: {args.phase} has no bootstrap steps in this version; see README.md", file=sys.stderr)
        return 2
    access = SSHPool(inventory)
    print(f"{args.phase} on {inventory.name}{' (dry run)' if args.dry_run else ''}:")
    started = time.monotonic()
    try:
        outcome = run_steps(plan(inventory, secrets, access), dry_run=args.dry_run)
    except (StepFailed, SSHError, SecretError, NotInInventory) as exc:  # NotInInventory: e.g. no services.prometheus
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        access.close()
    print(f"{outcome.summary} in {time.monotonic() - started:.0f} s")
    if not args.dry_run:
        print(f"next: pytest -m {args.phase} --inventory {inventory.path}")
    return 0


if __name__ == "__main__":
    mask_streams()  # for the whole process: an unexpected traceback is masked too
    sys.exit(main())
