"""The `docker` CLI, run with bounded waits; an engine that is missing or down is one clear message."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

LABEL = "homelab.lab"  # every object the lab makes carries LABEL=1: `lab down` removes those and nothing else
SPEC_LABEL = "homelab.lab.spec"  # hash of what made a container or an image: changed inputs => rebuild


class LabError(Exception):
    """The lab cannot go on; the message says what to do (the CLI prints it as one line)."""


class DockerUnavailable(LabError):
    """No Docker engine to talk to."""


FIX = "run `lab/scripts/ensure-docker.sh` (or `make lab`), which installs docker.io and starts dockerd"


def docker(*args: str, timeout: float = 120, check: bool = True, input_data: bytes | None = None) -> str:
    """Run `docker ARGS`; return stdout; raise LabError with docker's own message on failure."""
    result = run(["docker", *args], timeout=timeout, input_data=input_data)
    if check and result.returncode != 0:
        err = result.stderr.decode(errors="replace").strip().splitlines()
        raise LabError(f"docker {' '.join(args[:3])}: {err[-1] if err else f'exit {result.returncode}'}")
    return result.stdout.decode(errors="replace")


def run(cmd: Sequence[str], timeout: float, input_data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(list(cmd), capture_output=True, timeout=timeout, input=input_data, check=False)
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(cmd[:4])}` took longer than {timeout:.0f} s; is the engine healthy?") from None
    except FileNotFoundError:
        raise DockerUnavailable(f"`{cmd[0]}` is not installed; {FIX}") from None


def ensure_engine() -> None:
    """Fail with one line when the docker CLI is missing or its engine is not answering."""
    if shutil.which("docker") is None:
        raise DockerUnavailable(f"the docker CLI is not installed; {FIX}")
    try:
        result = run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=20)
    except LabError:
        raise DockerUnavailable(f"the Docker engine does not answer within 20 s; {FIX}") from None
    if result.returncode != 0 or not result.stdout.strip():
        raise DockerUnavailable(f"the Docker engine is not running; {FIX}")


def exists(kind: str, name: str) -> bool:
    return run(["docker", kind, "inspect", name], timeout=30).returncode == 0


def inspect_format(kind: str, name: str, fmt: str) -> str | None:
    result = run(["docker", kind, "inspect", "--format", fmt, name], timeout=30)
    return result.stdout.decode().strip() if result.returncode == 0 else None


def lab_objects(kind: str) -> list[str]:
    """Names of the containers, networks or volumes carrying the lab label."""
    fmt = "{{.Names}}" if kind == "container" else "{{.Name}}"
    extra = ["-a"] if kind == "container" else []
    out = docker(kind, "ls", *extra, "--filter", f"label={LABEL}=1", "--format", fmt, timeout=30)
    return [line for line in out.splitlines() if line]
