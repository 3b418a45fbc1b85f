"""A compose stack of stacks/ on one host: its files in /opt/homelab/stacks/NAME, then `docker compose up` and a
bounded wait until it is healthy. Every phase deploys its stacks this way (Portainer cannot deploy itself, and
the agents must exist before Portainer can reach their hosts).

The files are stacks/NAME/** unchanged (subfolders too), the files bootstrap generates for the stack
(`generated`: Prometheus' file_sd targets), `.env` (mode 600) filled from the secrets for every variable of
`.env.example`, and `compose.override.yaml` from settings.image_map (absent when there is nothing to
override). A service that bind-mounts part of the stack's folder (the monitoring configuration) gets a label
with the digest of what it mounts, so that a changed configuration recreates it; generated files are re-read
by the services themselves and are left out of it. In `exclusive` folders, files the plan does not have are
removed. The
deploy is "done" when every service runs a container whose compose config hash matches the files, every
container with a healthcheck is healthy, and the caller's own readiness check (`ready`) passes.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bootstrap.remote import Remote
from bootstrap.steps import Step, StepFailed
from homelab.clients.portainer import PortainerError
from homelab.model.compose import COMPOSE_FILE, ComposeError, load_stack
from homelab.model.images import override_for
from homelab.model.paths import stack_dir

OVERRIDE = "compose.override.yaml"
CONFIG_LABEL = "homelab.config-sha256"
WAIT = 120.0
SAFE_VALUE = re.compile(r"^[A-Za-z0-9_@.,:/+=%-]*$")
Ready = Callable[[], bool]


def env_names(example: Path) -> list[str]:
    """The variables `.env.example` names, in its order."""
    names = []
    for line in example.read_text().splitlines():
        name, sep, _ = line.strip().partition("=")
        if sep and not name.startswith("#"):
            names.append(name.strip())
    return names


def _dotenv_line(name: str, value: str) -> str:
    if SAFE_VALUE.match(value):
        return f"{name}={value}"
    if "'" not in value and "\n" not in value:
        return f"{name}='{value}'"
    raise StepFailed(f"secret {name} contains a quote or a newline, which compose's .env cannot hold; change it")


@dataclass(frozen=True)
class Stack:
    """stacks/NAME as deployed on `remote.host` by `docker compose -p NAME`."""

    remote: Remote
    name: str
    values: Callable[[str], str | None] = lambda _: None  # values of the host's own (EDGE_KEY), before secrets
    # Files bootstrap makes for the stack (stack-relative path -> content: Prometheus' file_sd targets), which
    # its services re-read by themselves: they never restart a container.
    generated: Callable[[], dict[str, bytes]] = dict
    exclusive: tuple[str, ...] = ()  # stack-relative folders holding the planned files only (others removed)

    @property
    def source(self) -> Path:
        return stack_dir(self.name)

    @property
    def directory(self) -> str:
        return f"/opt/homelab/stacks/{self.name}"

    @property
    def host(self) -> str:
        return self.remote.host.name

    def env_value(self, name: str) -> str:
        own = self.values(name)
        if own is not None:
            return own
        if name == "DNS_SERVER_DOMAIN":  # not a secret: the platform host's own name
            return f"{self.remote.host.hostname}.{self.remote.inventory.domain}"
        if name == "HOMELAB_DIR":  # not a secret: where bootstrap keeps the stacks (their bind-mounted config)
            return self.directory.rsplit("/stacks/", 1)[0]
        return self.remote.secrets.get(name)

    def files(self) -> dict[str, tuple[bytes, int]]:
        """name -> (content, mode) of everything the stack directory on the host must hold."""
        files = {name: (data, 0o644) for name, data in self.repo_files().items()}
        files |= {name: (data, 0o644) for name, data in self.generated().items()}
        example = self.source / ".env.example"
        if example.exists():
            env = f"# Written by bootstrap from the inventory's secrets ({self.name} stack); do not edit.\n"
            env += "".join(_dotenv_line(n, self.env_value(n)) + "\n" for n in env_names(example))
            files[".env"] = (env.encode(), 0o600)
        override = self.override()
        if override is not None:
            files[OVERRIDE] = (override.encode(), 0o644)
        return files

    def repo_files(self) -> dict[str, bytes]:
        """stack-relative path -> content of stacks/NAME/, subfolders included (hidden folders are not)."""
        return {p.relative_to(self.source).as_posix(): p.read_bytes() for p in sorted(self.source.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(self.source).parts[:-1])}

    def config_digests(self, compose: dict[str, Any]) -> dict[str, str]:
        """service -> SHA-256 of the stack's files it bind-mounts (generated ones and READMEs aside), for the
        services that mount part of the stack's directory: a label on the container, so that a changed
        configuration recreates it on the next `up`."""
        marker, files = f"/stacks/{self.name}/", self.repo_files()
        found = {}
        for service, spec in (compose.get("services") or {}).items():
            volumes = (spec or {}).get("volumes") or []
            sources = [v if isinstance(v, str) else str(v.get("source", "")) for v in volumes]
            folders = sorted({s.split(marker, 1)[1].split(":", 1)[0].rstrip("/") for s in sources if marker in s})
            if not folders:
                continue
            digest = hashlib.sha256()
            for name in sorted(files):
                if any(name == f or name.startswith(f + "/") for f in folders) and not name.endswith(".md"):
                    digest.update(f"{name}\0{hashlib.sha256(files[name]).hexdigest()}\n".encode())
            found[str(service)] = digest.hexdigest()
        return found

    def override(self) -> str | None:
        """compose.override.yaml from settings.image_map (and the mounted configuration's digests), or None when
        there is nothing to override."""
        try:
            compose = load_stack(self.name).data
        except ComposeError as exc:
            raise StepFailed(str(exc)) from None
        override = override_for(compose, self.remote.inventory.settings.image_map) or {"services": {}}
        digests = self.config_digests(compose)
        for service, digest in digests.items():
            override["services"].setdefault(service, {})["labels"] = {CONFIG_LABEL: digest}
        if not override["services"]:
            return None
        header = "# Generated by bootstrap from settings.image_map; do not edit.\n"
        if digests:
            header += f"# {CONFIG_LABEL}: what each service mounts from this folder (a change recreates it)\n"
        return header + yaml.safe_dump(override)

    def compose(self) -> str:
        """The `docker compose` command line for this stack, run in its directory."""
        override = f" -f {OVERRIDE}" if self.override() is not None else ""
        return f"cd {self.directory} && docker compose -p {self.name} -f {COMPOSE_FILE}{override}"

    # -- state on the host ---------------------------------------------------------------------------------
    def files_in_place(self) -> bool:
        try:
            files = self.files()
        except StepFailed:  # a value that only an earlier step makes (a dry run): not in place yet
            return False
        names = " ".join(shlex.quote(n) for n in [*files, OVERRIDE])
        line = 'echo "$(sha256sum < "$f" | cut -c1-64) $(stat -c %a "$f") $f"'
        found = self.remote.try_run(f"cd {self.directory} 2>/dev/null && for f in {names}; do "
                                    f'[ -f "$f" ] && {line}; done; true').stdout
        wanted = {f"{hashlib.sha256(data).hexdigest()} {mode:o} {name}" for name, (data, mode) in files.items()}
        return set(found.splitlines()) == wanted and not self.strays(files)

    def strays(self, files: dict[str, tuple[bytes, int]]) -> list[str]:
        """Files in the exclusive folders on the host that the plan does not have."""
        if not self.exclusive:
            return []
        folders = " ".join(shlex.quote(f) for f in self.exclusive)
        out = self.remote.try_run(f"cd {self.directory} 2>/dev/null && find {folders} -type f 2>/dev/null; true")
        return sorted(name for name in out.stdout.splitlines() if name and name not in files)

    def put_files(self) -> None:
        files = self.files()
        self.remote.put(files, self.directory)
        extra = [OVERRIDE] if OVERRIDE not in files else []
        extra += self.strays(files)
        if extra:
            self.remote.run(f"cd {self.directory} && rm -f {' '.join(shlex.quote(n) for n in extra)}", what="rm")

    def containers(self) -> dict[str, tuple[str, str, str]]:
        """service -> (config hash, state, health) of the project's containers."""
        fmt = ('{{.Label "com.docker.compose.service"}} {{.Label "com.docker.compose.config-hash"}} {{.State}} '
               '{{.Status}}')
        out = self.remote.try_run(
            f"docker ps -a --filter label=com.docker.compose.project={self.name} --format '{fmt}'").stdout
        found = {}
        for line in out.splitlines():
            service, config_hash, state, *status = line.split()
            text = " ".join(status)
            health = "healthy" if "(healthy)" in text else "unhealthy" if "(unhealthy)" in text else \
                "starting" if "health: starting" in text else "none"
            found[service] = (config_hash, state, health)
        return found

    def problems(self) -> list[str]:
        """What keeps the deployed stack from matching its files and being healthy; empty when it does."""
        hashes = self.remote.try_run(f"{self.compose()} config --hash '*'")
        if not hashes.ok:
            return [f"compose config fails: {hashes.stderr.strip()[-300:]}"]
        wanted = dict(line.split() for line in hashes.stdout.splitlines() if line.strip())
        running = self.containers()
        problems = []
        for service, config_hash in wanted.items():
            found = running.get(service)
            if found is None:
                problems.append(f"{service}: no container")
            elif found[0] != config_hash:
                problems.append(f"{service}: container differs from the files")
            elif found[1] != "running":
                problems.append(f"{service}: {found[1]}")
            elif found[2] not in ("healthy", "none"):
                problems.append(f"{service}: {found[2]}")
        return problems

    def up(self) -> None:
        # Retried: parallel first pulls on a fresh engine sometimes fail with a containerd lease error.
        up = f"{self.compose()} up -d --remove-orphans --quiet-pull"
        self.remote.run(f"for i in 1 2 3; do {up} && exit 0; sleep 3; done; exit 1", timeout=600,
                        what="docker compose up")


def is_ready(ready: Ready) -> bool:
    try:
        return ready()
    except PortainerError as exc:
        raise StepFailed(str(exc)) from None


def wait_healthy(problems: Callable[[], list[str]], ready: Ready, not_ready: str, failed: Callable[[str], str]) -> None:
    """Until `problems()` is empty and `ready()` holds, at most WAIT seconds; then StepFailed with `failed(why)`."""
    deadline = time.monotonic() + WAIT
    while True:
        found = problems()
        if not found and is_ready(ready):
            return
        if time.monotonic() > deadline:
            raise StepFailed(failed("; ".join(found or [not_ready or "not ready"])))
        time.sleep(3)


def files_step(stack: Stack) -> Step:
    def apply() -> None:
        stack.put_files()

    return Step(f"{stack.name} stack files in {stack.directory} (.env from secrets, image override)", stack.host,
                stack.files_in_place, apply)


def deploy_step(stack: Stack, ready: Ready = lambda: True, not_ready: str = "") -> Step:
    """`docker compose up`, then wait (bounded) for the containers and for `ready` (`not_ready` says what failed)."""
    def check() -> bool:
        return not stack.problems() and is_ready(ready)

    def apply() -> None:
        stack.up()
        wait_healthy(stack.problems, ready, not_ready,
                     lambda why: f"the {stack.name} stack is not healthy after {WAIT:.0f} s: {why}. "
                                 f"See `{stack.compose()} ps` and `... logs` on {stack.host}")

    return Step(f"deploy the {stack.name} stack and wait until it is healthy", stack.host, check, apply)
