"""`lab`: the simulated homelab on the local Docker engine. `lab --help` lists the commands."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from homelab.model.inventory_loader import InventoryError
from lab import up as lifecycle
from lab.docker import LabError, ensure_engine
from lab.keys import SSH_KEY
from lab.topology import LAB_DIR, machine


def _up(args: argparse.Namespace) -> int:
    inv = lifecycle.up(extra_agents=args.extra_agents)
    print(inv.path)
    return 0


def _down(_: argparse.Namespace) -> int:
    lifecycle.down()
    return 0


def _status(_: argparse.Namespace) -> int:
    rows = lifecycle.status()
    width = max(len(r[0]) for r in rows)
    for name, kind, addresses, state in rows:
        print(f"{name:<{width}}  {kind:<8}  {state:<8}  {addresses}")
    path = lifecycle.inventory_path()
    print(f"inventory: {path if path.exists() else 'not written yet (run `lab up`)'}")
    return 0 if all(r[3] == "running" for r in rows) else 1


def _exec(args: argparse.Namespace) -> int:
    ensure_engine()
    m = machine(args.host)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise LabError("no command given; usage: lab exec HOST -- CMD [ARGS...]")
    tty = ["-it"] if sys.stdin.isatty() and sys.stdout.isatty() else ["-i"]
    os.execvp("docker", ["docker", "exec", *tty, m.container, *command])  # noqa: S606 -- replaces this process on purpose


def _ssh(args: argparse.Namespace) -> int:
    m = machine(args.host)
    if not m.user:
        raise LabError(f"{m.name} has no sshd; use `lab exec {m.name} -- bash`")
    known = LAB_DIR / "known_hosts"
    if not known.exists():
        raise LabError("no .lab/known_hosts yet; run `lab up` first")
    cmd = ["ssh", "-i", str(SSH_KEY), "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
           "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=5", f"{m.user}@{m.address}", *args.command]
    try:
        os.execvp("ssh", cmd)  # noqa: S606 -- replaces this process on purpose
    except FileNotFoundError:
        raise LabError(f"no ssh client; install openssh-client, or: {shlex.join(cmd)}") from None


def _reset(args: argparse.Namespace) -> int:
    inv = lifecycle.reset(args.host)
    print(inv.path)
    return 0


def _inventory(_: argparse.Namespace) -> int:
    path = lifecycle.inventory_path()
    if not path.exists():
        raise LabError(f"{path} does not exist yet; run `lab up`")
    print(path)
    return 0


def _break(args: argparse.Namespace) -> int:
    from lab import faults

    found = faults.break_(args.fault)
    print(f"broken: {found.what}; caught by {', '.join(found.catches)}")
    print(f"undo: lab unbreak {found.name}, then python -m bootstrap phase{found.phase} --inventory "
          f"{lifecycle.inventory_path()}")
    return 0


def _unbreak(args: argparse.Namespace) -> int:
    from lab import faults

    found = faults.undo(args.fault)
    print(f"undone: {found.what}")
    return 0


def _git_push(args: argparse.Namespace) -> int:
    from lab import gitserver

    commit = gitserver.push(args.ref)
    print(f"{gitserver.repository_url()}: {args.ref} ({commit[:12]}) pushed")
    return 0


def _faults(_: argparse.Namespace) -> int:
    from lab import faults

    for found in faults.FAULTS.values():
        print(f"{found.name:<20} {found.what}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lab", description="The simulated homelab on the local Docker engine.")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="build and start the lab (idempotent); print the lab inventory's path")
    up.add_argument("--extra-agents", type=int, metavar="N", default=None,
                    help="run N extra Proxmox Docker VMs (pve-docker-3, ...) for scaling runs; kept until changed "
                         "(0 removes them)")
    up.set_defaults(func=_up)
    sub.add_parser("down", help="remove every lab container, network and volume").set_defaults(func=_down)
    sub.add_parser("status", help="each lab machine's state and addresses").set_defaults(func=_status)
    for name, func, text in (("exec", _exec, "run a command in a lab machine, as root: lab exec HOST -- CMD"),
                             ("ssh", _ssh, "SSH into a lab machine with the lab key, host key checked")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("host")
        cmd.add_argument("command", nargs=argparse.REMAINDER)
        cmd.set_defaults(func=func)
    reset = sub.add_parser("reset", help="recreate a machine and its Docker volume: back to fresh")
    reset.add_argument("host")
    reset.set_defaults(func=_reset)
    sub.add_parser("inventory", help="print the lab inventory's path").set_defaults(func=_inventory)
    sub.add_parser("faults", help="list the named faults `lab break` knows").set_defaults(func=_faults)
    push = sub.add_parser("git-push", help="put a ref of this checkout (HEAD) on the lab Git server's branch, "
                                           "where Portainer deploys from")
    push.add_argument("ref", nargs="?", default="HEAD")
    push.set_defaults(func=_git_push)
    for name, func, text in (("break", _break, "break one constraint in the lab (see `lab faults`)"),
                             ("unbreak", _unbreak, "undo a fault (then re-apply bootstrap phase 1)")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("fault")
        cmd.set_defaults(func=func)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (LabError, InventoryError) as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130
