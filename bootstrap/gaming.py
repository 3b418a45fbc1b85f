"""The gaming toggle: `python -m bootstrap.gaming on|off|status HOST [--inventory PATH]`.

`on` stops the worker's GPU stack (Ollama lets go of the GPU's memory, Open WebUI goes with it) and records
gaming mode on the worker (homelab.gaming.MARKER), so that the specs skip the GPU checks, saying "gaming mode"
(only while the stack is really stopped: a record with the stack running fails P3-GAMING-001), and bootstrap
phase 3 leaves the stack stopped. `off` removes the record and starts the stack again. Both are
idempotent; a worker that is off is reported, not an error (it is gaming, or asleep).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import shlex
import sys
import time

from bootstrap.remote import Remote
from bootstrap.stack import Stack
from bootstrap.steps import StepFailed
from homelab import gaming
from homelab.inventory import InventoryError, load_inventory
from homelab.secrets import SecretError, Secrets
from homelab.ssh import SSHError, SSHPool

STACK = "gpu-worker"
WAIT = 60.0


def switch_on(remote: Remote) -> str:
    stack = Stack(remote, STACK)
    record = f"on since {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by {getpass.getuser()}"
    remote.run(f"mkdir -p {shlex.quote(gaming.MARKER.rsplit('/', 1)[0])} && "
               f"printf '%s\\n' {shlex.quote(record)} > {gaming.MARKER}", what="recording gaming mode")
    remote.run(f"{stack.compose()} stop", timeout=120, what="docker compose stop")
    return f"{remote.host.name}: gaming mode {record}; the {STACK} stack is stopped and the GPU is free"


def switch_off(remote: Remote) -> str:
    stack = Stack(remote, STACK)
    remote.run(f"rm -f {gaming.MARKER}", what="removing the gaming-mode record")
    stack.up()
    deadline = time.monotonic() + WAIT
    while problems := stack.problems():
        if time.monotonic() > deadline:
            raise StepFailed(f"the {STACK} stack is not healthy {WAIT:.0f} s after gaming mode ended: "
                             f"{'; '.join(problems)}")
        time.sleep(2)
    return f"{remote.host.name}: gaming mode off; the {STACK} stack runs again"


def status(remote: Remote) -> str:
    try:
        state = gaming.read(remote.try_run)
    except gaming.GamingUnknown as exc:
        raise StepFailed(str(exc)) from None
    return f"{remote.host.name}: {state.describe()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bootstrap.gaming", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["on", "off", "status"])
    parser.add_argument("host", help="a GPU worker of the inventory (a host with the gpu-worker stack)")
    parser.add_argument("--inventory", default="inventory.yaml")
    args = parser.parse_args(argv)
    try:
        inventory = load_inventory(args.inventory)
        secrets = Secrets(inventory.secrets, inventory.settings.env_file)
    except (InventoryError, SecretError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    workers = {h.name: h for h in inventory.hosts_with_stack(STACK)}
    if args.host not in workers:
        print(f"error: {args.host} is not a GPU worker of {inventory.path} (hosts with the {STACK} stack: "
              f"{', '.join(workers) or 'none'})", file=sys.stderr)
        return 2
    pool = SSHPool(inventory)
    try:
        remote = Remote(inventory, secrets, pool, workers[args.host])
        action = {"on": switch_on, "off": switch_off, "status": status}[args.action]
        print(action(remote))
    except SSHError as exc:
        print(f"{args.host} is off or unreachable ({exc}): nothing to switch", file=sys.stderr)
        return 3
    except StepFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
