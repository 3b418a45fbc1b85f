"""`make bench`: what the compliance run costs on the lab, and how that grows with the homelab.

A script, not a timed test: it needs the lab up (`make lab`), rolls out every phase, then measures, in one run:
- the whole suite: wall time, checks, milliseconds per check (the median of a few runs);
- the baseline: the same suite run plainly (the plugin scripts/bench_baseline.py: nothing connected ahead, no
  sweep, each probe on its own, sequential, as one testinfra-paramiko call per check runs), once;
- the suite with one always-on host stopped (what a dead host adds);
- `lab up` of a fresh lab (its images cached) and the bootstrap of every phase on it, each phase timed;
- bootstrap of every phase with nothing to do;
- the suite at 1x, 2x and 4x the agent hosts (`lab up --extra-agents N`), then back to 1x.
It prints the table and writes it to docs/performance.md with the machine it ran on.
Usage: .venv/bin/python scripts/bench.py [--repeat 3] [--no-scale] [--no-fresh] [--out docs/performance.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET  # parses the JUnit file our own pytest run just wrote
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: homelab and lab import from here

from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from lab import up as lab_up
from lab.docker import docker
from lab.topology import machine

INVENTORY = REPO / ".lab" / "inventory.yaml"
PHASES = ("phase1", "phase2", "phase3", "phase4")
STOPPED_HOST = "pve-docker-2"  # an always-on agent host


@dataclass(frozen=True)
class SuiteRun:
    seconds: float
    checks: int
    outcomes: dict[str, int]
    returncode: int

    @property
    def ms_per_check(self) -> float:
        return 1000 * self.seconds / max(1, self.checks)


def say(text: str) -> None:
    print(text, flush=True)


def suite(*args: str, plain: bool = False) -> SuiteRun:
    """One compliance run against the lab (no report files), timed from the outside as an operator waits."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "scripts"),
                                                                      os.environ.get("PYTHONPATH")]))}
    baseline = ("-p", "bench_baseline") if plain else ()
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pytest", "--inventory", str(INVENTORY), "--no-reports", "-q",
                               "-p", "no:cacheprovider", f"--junitxml={junit}", *baseline, *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=3600, check=False)
        seconds = time.monotonic() - started
        if not junit.exists():
            raise SystemExit(f"bench: pytest wrote no results (exit {done.returncode}):\n{done.stdout[-2000:]}")
        outcomes: dict[str, int] = defaultdict(int)
        for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314 -- our own file
            kind = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
            outcomes[kind] += 1
    return SuiteRun(seconds, sum(outcomes.values()), dict(outcomes), done.returncode)


def median_suite(repeat: int) -> SuiteRun:
    runs = [suite() for _ in range(repeat)]
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def bootstrap_all() -> dict[str, float]:
    """Bootstrap every phase in order; each phase's seconds."""
    took: dict[str, float] = {}
    for phase in PHASES:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "bootstrap", phase, "--inventory", str(INVENTORY)], cwd=REPO,
                              capture_output=True, text=True, timeout=3600, check=False)
        if done.returncode != 0:
            raise SystemExit(f"bench: bootstrap {phase} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
        took[phase] = time.monotonic() - started
    return took


def phases(took: dict[str, float]) -> str:
    return " + ".join(f"{seconds:.0f}" for seconds in took.values()) + " s"


def agent_hosts() -> int:
    return sum(1 for h in load_inventory(INVENTORY).hosts.values() if "agent" in h.stacks)


def scale_to(extra: int) -> None:
    lab_up.up(log=lambda _: None, extra_agents=extra)
    say(f"  lab: {agent_hosts()} agent hosts; bootstrap every phase")
    bootstrap_all()


def forget_removed_environments() -> None:
    """Portainer still lists the extra agents removed by scaling back: delete those the inventory lost."""
    from homelab.clients import connect
    from homelab.model.secrets import Secrets

    inventory = load_inventory(INVENTORY)
    secrets = Secrets(inventory.secrets, inventory.settings.env_file)
    portainer = connect.portainer(inventory, secrets, timeout=10)
    try:
        for endpoint in portainer.endpoints():
            if endpoint["Name"] not in inventory.hosts:
                portainer.delete_endpoint(endpoint["Id"])
    finally:
        portainer.close()


def row(what: str, run: SuiteRun, note: str = "") -> str:
    counts = ", ".join(f"{n} {k}" for k, n in sorted(run.outcomes.items()))
    return f"| {what} | {run.seconds:.1f} s | {run.checks} ({counts}) | {run.ms_per_check:.1f} | {note} |"


def machine_line() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    memory = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))) / 1024 / 1024
    release = Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else "?"
    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Debian {release}, Python {platform.python_version()}, "
            f"kernel {platform.release()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of the whole suite per size (the median counts)")
    parser.add_argument("--no-scale", action="store_true", help="skip the 2x and 4x agent runs (they take minutes)")
    parser.add_argument("--no-fresh", action="store_true",
                        help="keep the running lab: skip `lab down`, `lab up` and the bootstrap of a fresh lab")
    parser.add_argument("--out", default=str(REPO / "docs" / "performance.md"))
    args = parser.parse_args(argv)
    rows: list[str] = []
    settings = load_inventory(INVENTORY) if INVENTORY.exists() else None

    fresh: list[str] = []
    if not args.no_fresh:
        say("bench: a fresh lab (lab down, lab up with its images cached), then every phase rolled out")
        lab_up.down(log=lambda _: None)
        started = time.monotonic()
        lab_up.up(log=lambda _: None, extra_agents=0)
        came_up = time.monotonic() - started
        took = bootstrap_all()
        fresh = [f"| lab up, images cached | {came_up:.1f} s | | | |",
                 f"| bootstrap, all four phases, fresh lab | {sum(took.values()):.1f} s | | | {phases(took)}; "
                 "goal 90 s |"]
        say("\n".join(fresh))
    else:
        say("bench: lab up at 1x and every phase rolled out")
        lab_up.up(log=lambda _: None, extra_agents=0)
        bootstrap_all()
    say("bench: bootstrap of every phase again, nothing to do")
    again = bootstrap_all()
    rerun = sum(again.values())

    say(f"bench: the whole suite, {args.repeat} runs")
    base = median_suite(args.repeat)
    agents = agent_hosts()
    rows.append(row(f"whole suite, 1x ({agents} agent hosts), median of {args.repeat}", base))
    say(rows[-1])

    say("bench: the baseline: the same suite run plainly (-p bench_baseline), once (minutes)")
    plain = suite(plain=True)
    rows.append(row("whole suite, 1x, plain baseline (-p bench_baseline)", plain,
                    f"this suite is {plain.ms_per_check / base.ms_per_check:.0f}x faster per check"))
    say(rows[-1])

    say(f"bench: the whole suite with {STOPPED_HOST} (always-on) stopped")
    docker("stop", "-t", "2", machine(STOPPED_HOST).container)
    try:
        stopped = suite()
    finally:
        docker("start", machine(STOPPED_HOST).container)
    timeout = settings.settings.connect_timeout if settings else 3
    rows.append(row(f"whole suite, {STOPPED_HOST} stopped", stopped,
                    f"+{stopped.seconds - base.seconds:.1f} s against 1x; connect timeout {timeout:g} s; exit "
                    f"{stopped.returncode}"))
    say(rows[-1])
    lab_up.up(log=lambda _: None)
    bootstrap_all()

    scale: list[tuple[int, SuiteRun]] = [(agents, base)]
    if not args.no_scale:
        for extra in (agents, 3 * agents):
            say(f"bench: {agents + extra} agent hosts (lab up --extra-agents {extra})")
            scale_to(extra)
            run = median_suite(args.repeat)
            scale.append((agents + extra, run))
            ratio = f"{run.seconds / base.seconds:.2f}x the 1x wall time (goal at 4x: 1.5x)"
            rows.append(row(f"whole suite, {(agents + extra) // agents}x ({agents + extra} agent hosts), median of "
                            f"{args.repeat}", run, ratio))
            say(rows[-1])
        say("bench: back to 1x")
        lab_up.up(log=lambda _: None, extra_agents=0)
        forget_removed_environments()
        bootstrap_all()

    table = "\n".join(["| run | wall | checks | ms per check | against |", "| --- | ---: | ---: | ---: | --- |", *rows,
                       *fresh, f"| bootstrap, all four phases, nothing to do | {rerun:.1f} s | | | {phases(again)} |"])
    text = RESULT.format(machine=machine_line(), date=time.strftime("%Y-%m-%d"), table=table,
                         revision=_revision())
    out = Path(args.out)
    marker = "<!-- bench -->"
    old = out.read_text() if out.exists() else f"{HEADER}\n{marker}\n{marker}\n"
    head, _, rest = old.partition(marker)
    _, _, tail = rest.partition(marker)
    out.write_text(f"{head}{marker}\n{text}\n{marker}{tail}")
    say(text)
    say(f"bench: written to {out}")
    return 0


def _revision() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=10)
    return done.stdout.strip() or "unknown"


HEADER = "# Performance\n"
RESULT = """Measured by `make bench` on {date} (revision {revision}), on the lab, on this machine: {machine}.

{table}
"""

if __name__ == "__main__":
    sys.exit(main())
