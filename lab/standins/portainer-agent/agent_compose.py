"""`docker-compose` as the Edge agent runs it for Edge stacks: Portainer's pkg/libstack/compose/internal/
composeplugin/{composeplugin,status}.go at 2.23.0 (the agent builds against the server source of its version) behind
agent exec/docker_compose_stack.go.

Global arguments come first (`-f FILE`, `--project-name NAME`), then the subcommand. The environment is the agent's
own plus the stack's NAME=VALUE pairs whenever there are any. A failure is compose's stderr, else "docker compose
command failed: <exit status>". COMPOSE_BINARY picks the program (upstream: /app/docker-compose; default here:
`docker-compose` on PATH, else Debian's CLI plugin path); the selftests point it at a recorder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
import time
from typing import Any

PLUGIN_PATH = "/usr/libexec/docker/cli-plugins/docker-compose"
# libstack.Status values the agent waits for or meets
RUNNING, COMPLETED, REMOVED, ERROR = "running", "completed", "removed", "error"
STARTING, REMOVING, UNKNOWN = "starting", "removing", "unknown"
log = logging.getLogger("agent.compose")


class ComposeError(Exception):
    """A compose command failed; the text is what the agent reports."""


def program() -> str:
    return os.environ.get("COMPOSE_BINARY") or shutil.which("docker-compose") or PLUGIN_PATH


def run(args: list[str], cwd: str = "", env: list[str] | None = None) -> str:
    """composeplugin command(): stdout on success. cwd "" is the agent's own; a missing cwd fails as Go's chdir."""
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(pair.partition("=")[::2] for pair in env)  # a later pair wins, as in exec.Cmd
    argv = [program(), *args]
    log.debug("run command %s (cwd %s)", argv, cwd or ".")
    if cwd and not os.path.isdir(cwd):  # Go's exec fails before running anything
        raise ComposeError(f"docker compose command failed: chdir {cwd}: no such file or directory")
    try:
        done = subprocess.run(argv, cwd=cwd or None, env=full_env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ComposeError(f"docker compose command failed: {exc}") from exc
    if done.returncode != 0:
        raise ComposeError(done.stderr or f"docker compose command failed: exit status {done.returncode}")
    return done.stdout


def parse_ps(output: str) -> list[dict[str, Any]] | None:
    """`ps --format json`: one object per line (compose >= 2.21, so upstream's v2.29.2) or one array (older v2).
    None when unreadable (upstream then waits for the next round)."""
    decoder, found, index = json.JSONDecoder(), [], 0
    text = output.strip()
    while index < len(text):
        try:
            value, index = decoder.raw_decode(text, index)
        except ValueError:
            return None
        found.extend(value if isinstance(value, list) else [value])
        while index < len(text) and text[index].isspace():
            index += 1
    return found if all(isinstance(item, dict) for item in found) else None


def service_status(service: dict[str, Any]) -> tuple[str, str]:
    """getServiceStatus: the container's state, and an error for a non-zero exit (Name is the container's name)."""
    state, name = service.get("State", ""), service.get("Name", "")
    try:
        code = int(service.get("ExitCode") or 0)
    except (TypeError, ValueError):
        code = 0
    if state in ("created", "restarting", "paused"):
        return STARTING, ""
    if state in ("running", "removing"):
        return (RUNNING if state == "running" else REMOVING), ""
    if state in ("exited", "dead"):
        if code != 0:
            return ERROR, f"service {name} exited with code {code}"
        return (COMPLETED if state == "exited" else REMOVED), ""
    return UNKNOWN, ""


def aggregate(services: list[dict[str, Any]]) -> tuple[str, str]:
    """aggregateStatuses: no service is removed; any error wins; all running or completed is running."""
    if not services:
        return REMOVED, ""
    counts: dict[str, int] = {}
    message = ""
    for service in services:
        status, problem = service_status(service)
        message = problem or message
        counts[status] = counts.get(status, 0) + 1
    total = len(services)
    if message:
        return ERROR, message
    if counts.get(STARTING) or counts.get(REMOVING):
        return (STARTING if counts.get(STARTING) else REMOVING), ""
    if counts.get(COMPLETED, 0) == total:
        return COMPLETED, ""
    if counts.get(RUNNING, 0) + counts.get(COMPLETED, 0) == total:
        return RUNNING, ""
    return (REMOVED, "") if counts.get(REMOVED, 0) == total else (UNKNOWN, "")


def wait_for_status(project: str, wanted: str, timeout: float, stopped: threading.Event) -> tuple[str, str] | None:
    """WaitForStatus under the agent's 1 min context: `ps -a --format json` every second. (status, error), or None
    when the time ran out (the agent then checks again later)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stopped.wait(1.0):
            return None
        try:
            output = run(["--project-name", project, "ps", "-a", "--format", "json"])
        except ComposeError as exc:  # upstream gets no output from a failed ps: for a removal, that is "removed"
            log.debug("docker compose ps for %s failed: %s", project, exc)
            output = ""
        if not output:
            if wanted == REMOVED:
                return REMOVED, ""
            continue
        services = parse_ps(output)
        if services is None:
            continue
        if not services and wanted == REMOVED:
            return REMOVED, ""
        status, message = aggregate(services)
        if status == wanted or (wanted == RUNNING and status == COMPLETED):
            return status, ""
        if message:
            return ERROR, message
    return None
