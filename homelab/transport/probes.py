"""Reachability, tested from where connections come from: this machine, or any machine we SSH into.

A firewall is a statement about who can connect, so it is proven by connecting. Probes from one place run
concurrently in one round trip (a bash script over the place's SSH connection), so every expected-closed
probe of a run costs about one probe timeout in total.
"""

from __future__ import annotations

import enum
import errno
import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from homelab.transport import sweep
from homelab.transport.ssh import Reachable, SSHPool, quote

SWEEP_SOURCE = Path(sweep.__file__).read_text()


class Outcome(enum.Enum):
    OPEN = "open"          # something accepted the connection
    CLOSED = "closed"      # refused: nothing listens, or a REJECT rule
    FILTERED = "filtered"  # no answer within the timeout: a DROP rule, or no route

    @property
    def answers(self) -> bool:
        return self is Outcome.OPEN


@dataclass(frozen=True, order=True)
class Probe:
    address: str
    port: int

    def __str__(self) -> str:
        return f"{self.address}:{self.port}/tcp"


RUNNER = "runner"  # this machine: the operator's workstation or the CI runner on the LAN


def probe_here(probe: Probe, timeout: float) -> Outcome:
    """Connect to `probe` from this machine."""
    try:
        with socket.create_connection((probe.address, probe.port), timeout=timeout):
            return Outcome.OPEN
    except TimeoutError:
        return Outcome.FILTERED
    except OSError as exc:
        return Outcome.CLOSED if exc.errno == errno.ECONNREFUSED else Outcome.FILTERED


BASH_CHUNK = 256  # bash probes at once where the far side has no python3 (a process or two each)


def remote_script(probes: Iterable[Probe], timeout: float) -> str:
    """A script that probes everything at once and prints `ADDRESS PORT OUTCOME` lines: `homelab.transport.sweep` where
    the far side has python3 (one process, ports as ranges), else bash with a `/dev/tcp` connect and a
    `timeout` per probe, BASH_CHUNK at a time."""
    probes = list(probes)
    sweep_args = " ".join(quote(a) for a in sweep.compact([(p.address, p.port) for p in probes]))
    python = (f"command -v python3 >/dev/null 2>&1 && exec python3 -c {quote(SWEEP_SOURCE)} {timeout:g} "
              f"{sweep_args}")
    probe_fn = (
        'p() { if timeout TIMEOUT bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then echo "$1 $2 open";'
        ' elif [ $? -eq 124 ]; then echo "$1 $2 filtered"; else echo "$1 $2 closed"; fi; }'
    )
    lines = [python, probe_fn.replace("TIMEOUT", f"{timeout:g}"), "n=0"]
    for arg in sweep.compact([(p.address, p.port) for p in probes]):
        address, ranges = arg.rsplit(":", 1)
        spans = " ".join(f"{r}-{r}" if "-" not in r else r for r in ranges.split(","))
        lines.append(f"for r in {spans}; do port=${{r%-*}}; while [ $port -le ${{r#*-}} ]; do p {quote(address)} "
                     f"$port & n=$((n+1)); [ $((n % {BASH_CHUNK})) -eq 0 ] && wait; port=$((port+1)); done; done")
    lines.append("wait")
    return "\n".join(lines)


def run_module(pool: SSHPool, target: Reachable, module: ModuleType, args: list[str],
               timeout: float) -> list[dict[str, Any]]:
    """Run a stdlib-only module of ours (`homelab.transport.httpprobe`) on `target` as `python3 -c`, its JSON lines
    back. Raises RuntimeError when the far side has no python3 or printed nothing: the caller could not observe."""
    source = Path(str(module.__file__)).read_text()
    result = pool.run(target, f"python3 -c {quote(source)} {quote(*args)}", timeout=timeout)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        why = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.exit_status}, no output"]
        raise RuntimeError(f"{module.__name__} on {target.name}: {why[0][:200]}")
    return [json.loads(line) for line in lines]


def parse_remote(output: str) -> dict[Probe, Outcome]:
    results: dict[Probe, Outcome] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            results[Probe(parts[0], int(parts[1]))] = Outcome(parts[2])
    return results


def every_outcome(todo: list[Probe], output: str, failure: Callable[[list[Probe]], str]) -> dict[Probe, Outcome]:
    """The outcomes a sweep printed (`parse_remote`), which must name every probe of `todo`: RuntimeError with
    `failure(the probes it left out)` where they do not."""
    found = parse_remote(output)
    missing = [p for p in todo if p not in found]
    if missing:
        raise RuntimeError(failure(missing))
    return found


class Reachability:
    """Probe results by place of origin, gathered in one concurrent sweep per place and cached."""

    def __init__(self, pool: SSHPool, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout
        self._cache: dict[tuple[str, Probe], Outcome] = {}
        self.errors: dict[str, BaseException] = {}  # place -> why its last sweep returned nothing

    def sweep(self, plan: dict[str, tuple[Reachable | None, list[Probe]]]) -> None:
        """Run every place's probes at once; `plan` maps a place name to (its SSH target or None, probes). A
        place whose probes came back empty is remembered (`errors`): the others' results still count."""
        with ThreadPoolExecutor(max_workers=max(1, len(plan))) as pool:
            futures = {name: pool.submit(self._probe_from, target, probes) for name, (target, probes) in plan.items()}
        for name, future in futures.items():
            error = future.exception()
            if error is not None:
                self.errors[name] = error
                continue
            for probe, outcome in future.result().items():
                self._cache[(name, probe)] = outcome

    def _probe_from(self, target: Reachable | None, probes: list[Probe]) -> dict[Probe, Outcome]:
        todo = sorted(set(probes))
        if target is None and len(todo) <= sweep.BATCH:
            found_here = sweep.sweep([(p.address, p.port) for p in todo], self.timeout)
            return {Probe(a, p): Outcome(o) for (a, p), o in found_here.items()}
        if target is None:  # thousands of sockets: in a child process, so this one's descriptors stay low
            return self._probe_in_child(todo)
        chunks = len(todo) // BASH_CHUNK + 1  # the bash fallback's worst case: one timeout per chunk
        result = self.pool.run(target, remote_script(todo, self.timeout), timeout=self.timeout * (4 + chunks) + 10)
        return every_outcome(todo, result.stdout, lambda missing: (
            f"probing from {target.name} returned nothing for {', '.join(map(str, missing))}: "
            f"{result.stderr.strip() or 'is bash with /dev/tcp and coreutils timeout there?'}"))

    def _probe_in_child(self, todo: list[Probe]) -> dict[Probe, Outcome]:
        """The attacker's sweep from this machine, in a python child: thousands of sockets at once here would
        push the descriptors of everything opened meanwhile (SSH channels, TLS probes) past select()'s 1024."""
        args = sweep.compact([(p.address, p.port) for p in todo])
        done = subprocess.run([sys.executable, "-c", SWEEP_SOURCE, f"{self.timeout:g}", *args], capture_output=True,
                              text=True, timeout=self.timeout * 4 + 10, check=False)
        return every_outcome(todo, done.stdout, lambda missing: (
            f"the sweep from this machine returned nothing for {len(missing)} probes: "
            f"{done.stderr.strip()[-300:] or f'exit status {done.returncode}'}"))

    def cached(self, place: str, probe: Probe) -> bool:
        return (place, probe) in self._cache

    def outcome(self, place: str, target: Reachable | None, probe: Probe) -> Outcome:
        """The outcome of `probe` from `place`, probing now if the sweep did not cover it."""
        key = (place, probe)
        if key not in self._cache:
            self.sweep({place: (target, [probe])})
        if key not in self._cache:  # nothing came back: the caller could not observe
            raise RuntimeError(str(self.errors.get(place) or f"no result for {probe} from {place}"))
        return self._cache[key]
