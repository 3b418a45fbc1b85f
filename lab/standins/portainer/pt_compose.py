"""`docker-compose` for compose stacks, as api/exec/compose_stack.go and pkg/libstack/compose/internal/composeplugin
(2.23.0) run it: `docker-compose [--host H] -f FILE... --project-name NAME [--env-file stack.env] up -d`, in the
stack's project folder, with the server's environment; a failure is stderr (else "docker compose command
failed: exit status N"), wrapped "failed to deploy a stack: ...", and a failed `up` is followed by a `down`.

COMPOSE_BINARY picks the program (default: `docker-compose` on PATH, else Debian's CLI plugin path); the selftests
point it at a recorder. A local environment (unix://) is used directly, any other through a local proxy that
signs each request for the agent (pt_dockerproxy).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pt_dockerproxy import AgentProxy
from pt_keys import AgentSigner

log = logging.getLogger("portainer.compose")
PLUGIN_PATH = "/usr/libexec/docker/cli-plugins/docker-compose"
DEPLOY_LOCK = threading.Lock()  # stackDeployer.lock: one deployment at a time


class ComposeError(Exception):
    """A compose command failed; the text is what Portainer reports as the message."""


def program() -> str:
    return os.environ.get("COMPOSE_BINARY") or shutil.which("docker-compose") or PLUGIN_PATH


def file_paths(stack: dict[str, Any]) -> list[str]:
    """stackutils.GetStackFilePaths(stack, true): EntryPoint then AdditionalFiles, under ProjectPath."""
    project = stack["ProjectPath"]
    return [os.path.join(project, name) for name in [stack["EntryPoint"], *(stack.get("AdditionalFiles") or [])]]


@contextlib.contextmanager
def engine_host(endpoint: dict[str, Any], signer: AgentSigner) -> Iterator[str]:
    """fetchEndpointProxy: "" for unix:// (compose uses DOCKER_HOST / the default socket), else a local proxy."""
    if endpoint["URL"].startswith(("unix://", "npipe://")):
        yield ""
        return
    with AgentProxy(endpoint, signer) as proxy:
        yield proxy.url


def env_file(stack: dict[str, Any]) -> str:
    """createEnvFile: stack.env = the entry point's .env, a newline, then NAME=VALUE per Env pair; none if no Env."""
    pairs = stack.get("Env") or []
    if not pairs:
        return ""
    project = Path(stack["ProjectPath"])
    default = project / os.path.dirname(stack["EntryPoint"]) / ".env"
    text = default.read_text() + "\n" if default.is_file() else ""
    text += "".join(f"{_field(p, 'name')}={_field(p, 'value')}\n" for p in pairs)
    target = project / "stack.env"
    target.write_text(text)
    target.chmod(0o600)
    return "stack.env"


def _field(pair: dict[str, Any], name: str) -> str:
    return str(next((v for k, v in pair.items() if k.lower() == name), "") or "")


def run(args: list[str], cwd: str = "") -> str:
    """composeplugin command(): stdout on success; stderr (or the exit status) as the error."""
    argv = [program(), *args]
    log.debug("execute command %s (cwd %s)", argv, cwd or ".")
    try:
        done = subprocess.run(argv, cwd=cwd or None, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ComposeError(f"docker compose command failed: {exc}") from exc
    if done.returncode != 0:
        raise ComposeError(done.stderr or f"docker compose command failed: exit status {done.returncode}")
    return done.stdout


def _globals(host: str, files: list[str], name: str, envfile: str) -> list[str]:
    args = ["--host", host] if host else []
    for path in files:
        args += ["-f", path.strip()]
    args += ["--project-name", name]
    return [*args, "--env-file", envfile] if envfile else args


def _missing(files: list[str]) -> str:
    """What docker-compose says for an absent -f file (checked here first, so a fake runner sees the same)."""
    absent = next((path for path in files if not os.path.isfile(path)), "")
    return f"open {absent}: no such file or directory" if absent else ""


def deploy(stack: dict[str, Any], endpoint: dict[str, Any], signer: AgentSigner, pull: bool, recreate: bool) -> None:
    """stackDeployer.DeployComposeStack: optional pull, then up -d (--force-recreate), down after a failed up."""
    files = file_paths(stack)
    with DEPLOY_LOCK, engine_host(endpoint, signer) as host:
        envfile = env_file(stack)
        common = _globals(host, files, stack["Name"], envfile)
        if pull:
            try:
                if problem := _missing(files):
                    raise ComposeError(problem)
                run([*common, "pull"], stack["ProjectPath"])
            except ComposeError as exc:
                raise ComposeError(f"failed to pull images of the stack: {exc}") from exc
        try:
            if problem := _missing(files):
                raise ComposeError(problem)
            run([*common, "up", "-d", *(["--force-recreate"] if recreate else [])], stack["ProjectPath"])
        except ComposeError as exc:
            with contextlib.suppress(ComposeError):
                run(_down_args(host, stack["Name"]))
            raise ComposeError(f"failed to deploy a stack: {exc}") from exc


def _down_args(host: str, name: str) -> list[str]:
    return [*(["--host", host] if host else []), "--project-name", name, "down", "--remove-orphans"]


def remove(stack: dict[str, Any], endpoint: dict[str, Any], signer: AgentSigner) -> None:
    """ComposeStackManager.Down: `docker-compose [--host H] --project-name NAME down --remove-orphans`."""
    with engine_host(endpoint, signer) as host:
        try:
            run(_down_args(host, stack["Name"]))
        except ComposeError as exc:
            raise ComposeError(f"failed to remove a stack: {exc}") from exc
