"""`python -m bootstrap phaseN --inventory PATH [--dry-run]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bootstrap import phase1, phase2, phase3, phase4
from bootstrap.steps import Step, StepFailed, run_steps
from homelab.inventory import Inventory, InventoryError, load_inventory
from homelab.secrets import SecretError, Secrets
from homelab.ssh import SSHError, SSHPool

# Each phase turns the inventory into its steps. Phases land one issue at a time (docs/rollout.md).
PHASES: dict[str, Callable[[Inventory, Secrets, SSHPool], list[Step]]] = {
    "phase1": phase1.steps,
    "phase2": phase2.steps,
    "phase3": phase3.steps,
    "phase4": phase4.steps,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bootstrap", description=__doc__)
    parser.add_argument("phase", choices=["phase1", "phase2", "phase3", "phase4"])
    parser.add_argument("--inventory", default="inventory.yaml")
    parser.add_argument("--env-file", default=None)
    parser.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    args = parser.parse_args(argv)
    try:
        inventory = load_inventory(args.inventory)
        secrets = Secrets(inventory.secrets, inventory.settings.env_file if args.env_file is None else args.env_file)
    except (InventoryError, SecretError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    plan = PHASES.get(args.phase)
    if plan is None:
        print(f"error: {args.phase} has no bootstrap steps in this version; see docs/rollout.md", file=sys.stderr)
        return 2
    access = SSHPool(inventory)
    print(f"{args.phase} on {inventory.name}{' (dry run)' if args.dry_run else ''}:")
    try:
        outcome = run_steps(plan(inventory, secrets, access), dry_run=args.dry_run)
    except (StepFailed, SSHError, SecretError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        access.close()
    print(outcome.summary)
    if not args.dry_run:
        print(f"next: pytest -m {args.phase} --inventory {inventory.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
