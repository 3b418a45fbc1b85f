"""The gaming toggle: `python -m bootstrap.gaming on|off|status HOST [--inventory PATH]`.

`on` stops the worker's GPU stack (Ollama lets go of the GPU's memory, Open WebUI goes with it) and records
gaming mode on the worker (homelab.checks.gaming.MARKER), so that the specs skip the GPU checks, saying "gaming mode"
(only while the stack is really stopped: a record with the stack running fails P3-GAMING-001), and bootstrap
phase 3 leaves the stack stopped. `off` removes the record and starts the stack again. Both are
idempotent; a worker that is off is reported, not an error (it is gaming, or asleep).

Where Portainer deploys gpu-worker as an Edge stack (homelab.model.gitops), `on` also takes the worker out of the
stack's Edge group, so that its agent removes the stack (volumes stay) and nothing redeploys it while the player plays,
not even an agent restart; `off` puts it back, and the agent deploys it again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import shlex
import sys
import time

from bootstrap.edgestacks import EdgeStack, set_member
from bootstrap.remote import Remote
from bootstrap.services.portainer import PortainerAccess
from bootstrap.stack import Stack
from bootstrap.steps import StepFailed
from homelab.checks import gaming
from homelab.clients.connect import NotInInventory
from homelab.model.gitops import edge_deploys, project
from homelab.model.inventory_loader import InventoryError, load_inventory
from homelab.model.secrets import SecretError, Secrets
from homelab.transport.ssh import SSHError, SSHPool

STACK = "gpu-worker"
WAIT = 120.0  # an Edge agent deploys on its next poll, then Open WebUI's health check starts


def _edge(remote: Remote) -> PortainerAccess | None:
    """Portainer's access where gpu-worker is an Edge stack on this worker, else None (bootstrap deploys it)."""
    if not edge_deploys(remote.inventory, remote.host, STACK):
        return None
    platform = remote.inventory.platform_host
    return PortainerAccess(Remote(remote.inventory, remote.secrets, remote.pool, platform))


def switch_on(remote: Remote) -> str:
    stack = Stack(remote, STACK)
    record = f"on since {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by {getpass.getuser()}"
    remote.run(f"mkdir -p {shlex.quote(gaming.MARKER.rsplit('/', 1)[0])} && "
               f"printf '%s\\n' {shlex.quote(record)} > {gaming.MARKER}", what="recording gaming mode")
    access = _edge(remote)
    if access is None:
        remote.run(f"{stack.compose()} stop", timeout=120, what="docker compose stop")
    else:  # out of the Edge group: the agent removes the stack when it next polls; stopped now, for the GPU
        set_member(remote, access, STACK, member=False)
        name = project(remote.inventory, remote.host, STACK)
        remote.run(f"docker ps -q --filter label=com.docker.compose.project={name} | xargs -r docker stop",
                   timeout=120, what="docker stop")
    return f"{remote.host.name}: gaming mode {record}; the {STACK} stack is stopped and the GPU is free"


def switch_off(remote: Remote) -> str:
    stack = Stack(remote, STACK)
    remote.run(f"rm -f {gaming.MARKER}", what="removing the gaming-mode record")
    access = _edge(remote)
    if access is None:
        stack.up()
        problems_of = stack.problems
    else:  # back in the Edge group: the agent deploys the stack when it next polls
        set_member(remote, access, STACK, member=True)
        # Switched back before the agent saw the stack leave: it deploys nothing new, so start what `on` stopped
        name = project(remote.inventory, remote.host, STACK)
        remote.run(f"docker ps -aq --filter label=com.docker.compose.project={name} --filter status=exited | "
                   "xargs -r docker start", timeout=120, what="docker start")
        edge = EdgeStack(STACK, [remote.host], remote.inventory, remote.secrets, remote.pool, access)
        problems_of = lambda: edge.unhealthy(remote.host)  # noqa: E731
    deadline = time.monotonic() + WAIT
    while problems := problems_of():
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
    except (StepFailed, NotInInventory) as exc:  # NotInInventory: a service it asks is not in the inventory
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
