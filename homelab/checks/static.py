"""The static checks of the repository: stacks, `.env.example` files, inventory agreement, git hygiene.

Every check returns a list of problems (empty = fine); each problem is one line, in the shape every spec's
failure has (homelab.checks.problem): `expected ...; found ...; where: FILE:LINE: path; fix: ...`. The static
specs (tests/static) assert the lists are empty; the selftests feed broken copies to the same checks. Nothing
here needs a host.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from homelab.checks import problem
from homelab.checks.containers import HOST_ACCESS_TEXT, host_access_items, is_root_mount
from homelab.model.compose import COMPOSE_FILE, ComposeError, ComposeFile, ComposeService, image_tag, load_compose
from homelab.model.inventory import STACK_PHASES, Inventory
from homelab.model.inventory_loader import InventoryError, load_inventory
from homelab.model.yamlfile import YamlError, load_yaml

ENV_EXAMPLE = ".env.example"
STACK_FILES = (COMPOSE_FILE, ENV_EXAMPLE, "README.md")
UNPARSED = "(unparsed)"   # the service id used when a stack's compose file cannot be read
FLOATING_TAGS = frozenset({"latest", "stable", "edge", "nightly", "main", "master", "dev", "develop"})
EXEMPTION_LABEL = "homelab.healthcheck"
RESTART_OK = ("unless-stopped", "always")
DOCKER_API_PORTS = frozenset({2375, 2376})
ALLOW_TCP_MARKER = "homelab: allow-docker-tcp"   # a line carrying this is a deliberate, reviewed exception
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|(^|_)KEY$|API_KEY|PRIVATE|CREDENTIAL")
_SECRET_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}$")
_RUNTIME_REF = re.compile(r"^\$\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$")  # the container's env
_INTERPOLATION = re.compile(r"\$\{[^}]*\}")
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_NOT_A_VALUE = re.compile(r"(FILE|PATH|DIR|ENABLED?|DISABLED?)$")  # --password-file=/run/secrets/x names a file
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
# dockerd listening on TCP: a -H or --host flag with a tcp URL, or a tcp URL in daemon.json "hosts".
_DOCKERD_TCP = re.compile(r"(?:(?:^|\s)-H|--host)[\s=]*[\"']?tcp:/{2}|\"hosts\"\s*:\s*\[[^\]]*tcp:/{2}")
_SCAN_SKIP_DIRS = ("tests/", "selftests/")            # specs and selftests quote the patterns they look for
_SCAN_SKIP_SUFFIXES = (".md", ".rst", ".txt")

ServiceCheck = Callable[[ComposeFile, ComposeService, Inventory], list[str]]

# What a healthcheck can run in a pinned image: repository -> (tag, programs, the upstream file that says so).
# Only images with a record are checked; the shell's builtins are not programs and are not listed.
IMAGE_TOOLS: dict[str, tuple[str, frozenset[str], str]] = {
    "technitium/dns-server": ("13.6.0", frozenset({"dig", "nslookup", "host", "dotnet", "sh", "bash"}),
                              "TechnitiumSoftware/DnsServer v13.6.0 Dockerfile: aspnet:8.0 + libmsquic + dnsutils, "
                              "no curl or wget"),
    "jc21/nginx-proxy-manager": ("2.12.6", frozenset({"/usr/bin/check-health", "check-health", "curl", "jq", "bash",
                                                      "sh", "node"}),
                                 "NginxProxyManager/nginx-proxy-manager v2.12.6 docker/rootfs/usr/bin/check-health "
                                 "(curl + jq)"),
    "louislam/uptime-kuma": ("1.23.16", frozenset({"node", "extra/healthcheck", "curl", "sh", "bash"}),
                             "louislam/uptime-kuma 1.23.16 docker/debian-base.dockerfile (node:18 + curl) and "
                             "docker/dockerfile (extra/healthcheck)"),
}


@functools.cache
def repository(root: Path) -> Repository:
    """One Repository per checkout: every static spec module shares its parsed compose files and inventory."""
    return Repository(root)


def expect_no_problems(problems: list[str]) -> None:
    """Fail a static spec with its problems, one per line, without a traceback into the checker."""
    __tracebackhide__ = True
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


class Repository:
    """The repository being checked, with its compose files and inventory read once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._compose: dict[str, ComposeFile | ComposeError] = {}
        self._inventory: Inventory | InventoryError | None = None

    def compose_path(self, stack: str) -> Path:
        return self.root / "stacks" / stack / COMPOSE_FILE

    def compose(self, stack: str) -> ComposeFile:
        if stack not in self._compose:
            try:
                self._compose[stack] = load_compose(self.compose_path(stack))
            except ComposeError as exc:
                self._compose[stack] = exc
        loaded = self._compose[stack]
        if isinstance(loaded, ComposeError):
            raise loaded
        return loaded

    def inventory(self) -> Inventory:
        if self._inventory is None:
            try:
                self._inventory = load_inventory(self.root / "inventory.yaml")
            except InventoryError as exc:
                self._inventory = exc
        if isinstance(self._inventory, InventoryError):
            raise self._inventory
        return self._inventory

    def stacks(self) -> list[str]:
        """The stacks the inventory format knows, and any other folder under stacks/."""
        folders = {p.name for p in (self.root / "stacks").iterdir() if p.is_dir()} if (self.root / "stacks").is_dir() \
            else set()
        return sorted(set(STACK_PHASES) | folders)

    def service_ids(self) -> list[tuple[str, str]]:
        """(stack, service) for every compose service; (stack, UNPARSED) for a stack that cannot be read."""
        ids: list[tuple[str, str]] = []
        for stack in self.stacks():
            try:
                ids.extend((stack, name) for name in self.compose(stack).services)
            except ComposeError:
                ids.append((stack, UNPARSED))
        return ids

    def inventory_service_names(self) -> list[str]:
        try:
            return list(self.inventory().services)
        except InventoryError:
            return ["(inventory invalid)"]

    def check_service(self, check: ServiceCheck, stack: str, service: str) -> list[str]:
        """Run one per-service check; a file that cannot be read is itself the problem."""
        try:
            compose = self.compose(stack)
            inventory = self.inventory()
        except (ComposeError, InventoryError) as exc:
            return [f"cannot check {stack}/{service}: {exc}"]
        return check(compose, compose.services[service], inventory)


# -- per service --------------------------------------------------------------------------------------------

def image_pinned(compose: ComposeFile, svc: ComposeService, _: Inventory) -> list[str]:
    tag, digest = image_tag(svc.image)
    if digest or (tag and tag not in FLOATING_TAGS and "$" not in svc.image):
        return []
    return [problem(where=compose.where("services", svc.name, "image"),
                    expected="an image pinned to a version tag or a digest", found=repr(svc.image),
                    fix="pin the version you tested, e.g. NAME:1.2.3 or NAME@sha256:...")]


def healthcheck_program(test: tuple[str, ...]) -> str | None:
    """The program a healthcheck's `test` runs: `[CMD, prog, ...]`, or the first word of `[CMD-SHELL, line]`."""
    if len(test) >= 2 and test[0] == "CMD":
        return test[1]
    if len(test) >= 2 and test[0] == "CMD-SHELL":
        words = shlex.split(test[1]) if test[1].strip() else []
        return words[0] if words else None
    return None


def healthcheck_tool_missing(svc: ComposeService) -> str | None:
    """Why the healthcheck cannot run in the pinned image (its program is not there), when IMAGE_TOOLS knows."""
    if svc.healthcheck is None or svc.healthcheck.disabled:
        return None
    repo, _, tag = svc.image.split("@", 1)[0].rpartition(":")
    record = IMAGE_TOOLS.get(repo)
    program = healthcheck_program(svc.healthcheck.test)
    if record is None or program is None or tag != record[0]:
        return None
    if program in record[1] or program.rsplit("/", 1)[-1] in record[1]:
        return None
    return f"`{program}`, which {repo}:{tag} does not have (it has {', '.join(sorted(record[1]))}: {record[2]})"


def healthcheck_defined(compose: ComposeFile, svc: ComposeService, _: Inventory) -> list[str]:
    where = compose.where("services", svc.name, "healthcheck")
    reason = svc.labels.get(EXEMPTION_LABEL, "")
    missing = healthcheck_tool_missing(svc)
    if missing is not None:
        return [problem(where=where, expected="a healthcheck that works in this image",
                        found=f"a healthcheck that runs {missing}",
                        fix="run a program the image has (e.g. `dig @127.0.0.1` where only dnsutils is installed)")]
    if svc.healthcheck is not None and not svc.healthcheck.disabled:
        return []
    if svc.healthcheck is not None and reason.startswith("none:") and len(reason) > len("none: "):
        return []
    found = "no healthcheck" if svc.healthcheck is None else f"a disabled healthcheck without a `{EXEMPTION_LABEL}: " \
        "\"none: <reason>\"` label"
    return [problem(where=where, expected="a healthcheck that works in this image", found=found,
                    fix="add `healthcheck: {test: [CMD, ...]}`; if the image has no usable tool, write "
                    f"`healthcheck: {{disable: true}}` and label `{EXEMPTION_LABEL}: \"none: <why>\"`")]


def restart_policy(compose: ComposeFile, svc: ComposeService, _: Inventory) -> list[str]:
    if svc.restart in RESTART_OK:
        return []
    return [problem(where=compose.where("services", svc.name), expected="restart: unless-stopped (or always)",
                    found=repr(svc.restart) if svc.restart else "no restart policy",
                    fix="add `restart: unless-stopped`")]


def container_name_matches(compose: ComposeFile, svc: ComposeService, _: Inventory) -> list[str]:
    if svc.container_name == svc.name:
        return []
    return [problem(where=compose.where("services", svc.name), expected=f"container_name: {svc.name} (the service key)",
                    found=repr(svc.container_name), fix=f"set `container_name: {svc.name}`")]


def socket_allowed(compose: ComposeFile, svc: ComposeService, inventory: Inventory) -> list[str]:
    entry = inventory.services.get(svc.name)
    policy = entry.docker_socket if entry else "none"
    problems = []
    if svc.api_socket and policy != "rw":
        problems.append(problem(where=compose.where("services", svc.name, "use_api_socket"),
                                expected=f"no Docker API access (inventory docker_socket: {policy})",
                                found="use_api_socket: true", fix="remove `use_api_socket`"))
    for mount in svc.socket_mounts:
        index = str(svc.mounts.index(mount))
        where = compose.where("services", svc.name, "volumes", index)
        if policy == "none":
            problems.append(problem(where=where, expected="no Docker socket (inventory docker_socket: none)",
                                    found=f"mount {mount}",
                                    fix=f"remove the mount, or grant it in inventory.yaml services.{svc.name}"))
        elif policy == "ro" and not mount.read_only:
            problems.append(problem(where=where, expected="the Docker socket read-only (inventory docker_socket: ro)",
                                    found=f"mount {mount}",
                                    fix="mount /var/run/docker.sock:/var/run/docker.sock:ro only"))
    return problems


def host_access_allowed(compose: ComposeFile, svc: ComposeService, inventory: Inventory) -> list[str]:
    """privileged, `pid: host`, `network_mode: host` or a bind mount of `/` only where the inventory's
    `host_access` allows that item (the live spec EXP-CTR-004 holds the running containers to the same)."""
    raw = (compose.data.get("services") or {}).get(svc.name) or {}
    entry = inventory.services.get(svc.name)
    allowed = entry.host_access if entry else ()
    root = next((i for i, m in enumerate(svc.mounts) if m.type == "bind" and is_root_mount(m.source)), None)
    where = {"privileged": ("privileged",), "pid": ("pid",), "network": ("network_mode",),
             "root": ("volumes", str(root))}
    found = {"privileged": "privileged: true", "pid": f"pid: {raw.get('pid')}",
             "network": f"network_mode: {raw.get('network_mode')}",
             "root": f"mount {svc.mounts[root]}" if root is not None else ""}
    taken = host_access_items(raw.get("privileged") is True, raw.get("pid"), raw.get("network_mode"),
                              [m.source for m in svc.mounts if m.type == "bind"])
    return [problem(where=compose.where("services", svc.name, *where[item]),
                    expected=f"{HOST_ACCESS_TEXT[item]} only where host_access allows it (inventory.yaml "
                    f"services.{svc.name} host_access: [{', '.join(allowed)}])", found=found[item],
                    fix=f"remove it, or allow it in inventory.yaml services.{svc.name}.host_access: [{item}]")
            for item in taken if item not in allowed]


def secrets_referenced(compose: ComposeFile, svc: ComposeService, _: Inventory) -> list[str]:
    problems = []
    for name, value in svc.environment.items():
        if _SECRET_NAME.search(name.upper()) and value is not None and not _SECRET_REF.match(value):
            problems.append(problem(where=compose.where("services", svc.name, "environment", name),
                                    expected=f"{name} as a ${{VAR}} or ${{VAR:?message}} reference (no value, no "
                                    "default)", found="a value in the file", fix=f"write `{name}: ${{{name}:?set "
                                    f"{name} in .env}}` and put the value in .env (from 1Password)"))
    raw = (compose.data.get("services") or {}).get(svc.name) or {}
    for key in ("command", "entrypoint"):
        for index, name in secret_arguments(raw.get(key)):
            at = (key,) if isinstance(raw.get(key), str) else (key, str(index))
            problems.append(problem(where=compose.where("services", svc.name, *at),
                                    expected=f"the secret {name} as a ${{VAR}} or ${{VAR:?message}} reference",
                                    found=f"a value in the file ({name} given literally in `{key}`)",
                                    fix=f"write it as `${{{_variable(name)}:?set {_variable(name)} in .env}}` and "
                                    "put the value in .env (from 1Password), or pass a file (`--...-file`, a compose "
                                    "secret)"))
    return problems


def _variable(flag: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", flag.upper()).strip("_") or "SECRET"


def _is_secret_name(name: str) -> bool:
    """A flag or variable name that holds a secret (`--web.basic-auth-password`, `API_TOKEN`), not a path to one
    (`--password-file`)."""
    key = _variable(name)
    return bool(_SECRET_NAME.search(key)) and not _NOT_A_VALUE.search(key)


def _is_literal(value: str) -> bool:
    """A value written in the file: anything but empty, a `${VAR}`/`${VAR:?message}` reference, `$$VAR` (the
    container's own environment, read at run time), or an absolute path."""
    value = value.strip("\"'")
    if value.startswith("/"):
        return False  # a path (`--tls-key=/certs/key.pem`): where the secret lies, not the secret
    return bool(value) and not _SECRET_REF.match(value) and not _RUNTIME_REF.match(value)


def secret_arguments(arguments: object) -> list[tuple[int, str]]:
    """(index of the item, secret name) for every secret given a literal value in a compose `command` or
    `entrypoint` (a string or a list; each item is also split as a shell would, for `sh -c "..."`):
    `--flag=VALUE`, `--flag VALUE`, and `NAME=VALUE` assignments, where the name is a secret's."""
    if isinstance(arguments, str):
        items = [arguments]
    elif isinstance(arguments, list):
        items = [str(a) for a in arguments if a is not None]
    else:
        return []
    words: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        kept = _INTERPOLATION.sub(lambda m: m.group(0).replace(" ", "\x1f"), item)  # `${X:?a message}` is one word
        try:
            split = shlex.split(kept)
        except ValueError:
            split = kept.split()
        words += [(index, w.replace("\x1f", " ")) for w in split]
    found: list[tuple[int, str]] = []
    for position, (index, word) in enumerate(words):
        if word.startswith("-"):
            flag, sep, value = word.lstrip("-").partition("=")
            if not _is_secret_name(flag):
                continue
            if not sep:  # `--password VALUE`: the next word, unless it is another flag
                following = words[position + 1][1] if position + 1 < len(words) else ""
                value = "" if following.startswith("-") else following
            if _is_literal(value):
                found.append((index, f"--{flag}" if word.startswith("--") else f"-{flag}"))
        elif (match := _ASSIGNMENT.match(word)) and _is_secret_name(match.group(1)) and _is_literal(match.group(2)):
            found.append((index, match.group(1)))
    return found


def in_inventory(compose: ComposeFile, svc: ComposeService, inventory: Inventory) -> list[str]:
    stack = compose.path.parent.name
    entry = inventory.services.get(svc.name)
    if entry is not None and entry.stack == stack:
        return []
    found = "no such service" if entry is None else f"it under stack {entry.stack!r}"
    return [problem(where=compose.where("services", svc.name),
                    expected=f"inventory.yaml services.{svc.name} with stack: {stack}", found=found,
                    fix=f"add the service to inventory.yaml with `stack: {stack}`, or rename the compose service")]


def ports_match_inventory(compose: ComposeFile, svc: ComposeService, inventory: Inventory) -> list[str]:
    entry = inventory.services.get(svc.name)
    if entry is None:
        return []   # reported by in_inventory
    expected = sorted(f"{p.port}/{p.protocol}" for p in entry.ports)
    found = sorted(f"{m.published if m.published is not None else '(random)'}/{m.protocol}" for m in svc.ports)
    if expected == found:
        return []
    return [problem(where=compose.where("services", svc.name, "ports"),
                    expected=f"published ports [{', '.join(expected)}] (inventory.yaml services.{svc.name}.ports)",
                    found=f"[{', '.join(found)}]",
                    fix="publish exactly the inventory's ports, or change the inventory")]


def no_docker_api_port(compose: ComposeFile, svc: ComposeService, _: Inventory) -> list[str]:
    bad = [m for m in svc.ports if m.published in DOCKER_API_PORTS or m.target in DOCKER_API_PORTS]
    return [problem(where=compose.where("services", svc.name, "ports"),
                    expected="no Docker API port (2375/2376) published", found=str(m),
                    fix="remove it: Portainer reaches engines through the agent on 9001") for m in bad]


# -- per stack ----------------------------------------------------------------------------------------------

def stack_files_present(repo: Repository, stack: str) -> list[str]:
    folder = repo.root / "stacks" / stack
    return [problem(where=str(folder / name), expected=f"stacks/{stack}/{name}", found="no such file",
                    fix=f"add {name} (see docs/stacks.md)") for name in STACK_FILES if not (folder / name).is_file()]


def compose_valid(repo: Repository, stack: str) -> list[str]:
    try:
        repo.compose(stack)
    except ComposeError as exc:
        return [str(exc)]
    return []


def read_env_example(path: Path) -> tuple[dict[str, int], list[str]]:
    """Variables of an .env.example (name -> line) and problems: malformed lines, names listed twice."""
    names: dict[str, int] = {}
    problems: list[str] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match is None:
            problems.append(problem(where=f"{path}:{number}", expected="NAME=value or a # comment", found=repr(raw),
                                    fix="fix the line"))
        elif match.group(1) in names:
            problems.append(problem(where=f"{path}:{number}", expected=f"{match.group(1)} once",
                                    found=f"it again (first on line {names[match.group(1)]})",
                                    fix="remove one of them"))
        else:
            names[match.group(1)] = number
    return names, problems


def _stack_env(repo: Repository, stack: str) -> tuple[ComposeFile, Path, dict[str, int]] | list[str]:
    path = repo.root / "stacks" / stack / ENV_EXAMPLE
    try:
        compose = repo.compose(stack)
    except ComposeError as exc:
        return [f"cannot check {stack}: {exc}"]
    if not path.is_file():
        return [problem(where=str(path), expected="an .env.example listing every variable", found="no such file",
                        fix="add it")]
    names, problems = read_env_example(path)
    return problems or (compose, path, names)


def variables_documented(repo: Repository, stack: str) -> list[str]:
    loaded = _stack_env(repo, stack)
    if isinstance(loaded, list):
        return loaded
    compose, env_path, names = loaded
    return [problem(where=compose.where(*at), expected=f"{name} listed in {env_path}", found="it missing",
                    fix=f"add `{name}=<placeholder>` with a comment naming its source (e.g. op://homelab/...)")
            for name, at in compose.variables.items() if name not in names]


def env_example_used(repo: Repository, stack: str) -> list[str]:
    loaded = _stack_env(repo, stack)
    if isinstance(loaded, list):
        return loaded
    compose, env_path, names = loaded
    return [problem(where=f"{env_path}:{line}", expected=f"{name} used by {compose.path}",
                    found="no ${" + name + "} reference", fix="remove the variable, or use it in compose.yaml")
            for name, line in names.items() if name not in compose.variables]


def env_example_commented(repo: Repository, stack: str) -> list[str]:
    path = repo.root / "stacks" / stack / ENV_EXAMPLE
    if not path.is_file():
        return []   # reported by stack_files_present
    lines = path.read_text(encoding="utf-8").splitlines()
    names, _ = read_env_example(path)
    return [problem(where=f"{path}:{line}", expected=f"a # comment above {name} saying where its value comes from",
                    found="none", fix="add e.g. `# op://homelab/<item>/<field>` or `# not a secret: ...` above it")
            for name, line in names.items() if line < 2 or not lines[line - 2].strip().startswith("#")]


def stack_deployed(repo: Repository, stack: str) -> list[str]:
    folder = f"stacks/{stack}"
    if stack not in STACK_PHASES:
        return [problem(where=folder, expected=f"a stack the inventory knows ({', '.join(STACK_PHASES)})",
                        found=repr(stack),
                        fix="rename the folder, or add the stack to homelab.model.inventory.STACK_PHASES")]
    try:
        hosts = repo.inventory().hosts_with_stack(stack)
    except InventoryError as exc:
        return [f"cannot check {stack}: {exc}"]
    if hosts:
        return []
    return [problem(where=str(repo.root / "inventory.yaml"), expected=f"some host listing stack {stack!r}",
                    found="none", fix=f"add {stack} to a host's `stacks:`, or remove {folder}")]


# -- repository ---------------------------------------------------------------------------------------------

def inventory_valid(repo: Repository) -> list[str]:
    try:
        repo.inventory()
    except InventoryError as exc:
        return [str(exc)]
    return []


def inventory_service_in_stack(repo: Repository, name: str) -> list[str]:
    try:
        entry = repo.inventory().services[name]
        compose = repo.compose(entry.stack)
    except (ComposeError, InventoryError) as exc:
        return [f"cannot check {name}: {exc}"]
    if name in compose.services:
        return []
    return [problem(where=str(compose.path),
                    expected=f"a service {name!r} (inventory.yaml services.{name}, stack {entry.stack})",
                    found=f"services {', '.join(compose.services)}",
                    fix="add the service, or fix the inventory's stack")]


def _git_files(root: Path, *options: str) -> list[str] | str:
    try:
        result = subprocess.run(["git", "-C", str(root), "ls-files", "-z", *options],
                                capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{root}: cannot run git ls-files: {exc}"
    if result.returncode != 0:
        return f"{root}: git ls-files failed: {result.stderr.strip()}; fix: run the specs from a git checkout"
    return [name for name in result.stdout.split("\0") if name]


def _is_env_file(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base != ENV_EXAMPLE and (base == ".env" or base.endswith(".env") or base.startswith(".env."))


def no_env_files_tracked(repo: Repository) -> list[str]:
    files = _git_files(repo.root)
    if isinstance(files, str):
        return [files]
    return [problem(where=str(repo.root / name), expected="no .env file in git (values come from 1Password)",
                    found="it tracked", fix=f"`git rm --cached {name}`, rotate its secrets, keep it ignored")
            for name in files if _is_env_file(name)]


def no_dockerd_tcp(repo: Repository) -> list[str]:
    files = _git_files(repo.root, "--cached", "--others", "--exclude-standard")
    if isinstance(files, str):
        return [files]
    problems = []
    for name in sorted(set(files)):
        if name.startswith(_SCAN_SKIP_DIRS) or name.endswith(_SCAN_SKIP_SUFFIXES):
            continue
        try:
            text = (repo.root / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if _DOCKERD_TCP.search(line) and ALLOW_TCP_MARKER not in line:
                problems.append(problem(where=f"{repo.root / name}:{number}",
                                        expected="dockerd on its unix socket only", found=line.strip()[:80],
                                        fix="remove the TCP listener; use ssh:// or the Portainer agent to reach an "
                                        "engine"))
    return problems


# -- monitoring configuration -------------------------------------------------------------------------------

PROMETHEUS_JOBS = ("node", "cadvisor")
DASHBOARD_UIDS = ("homelab-hosts", "homelab-containers")
DATASOURCE_UID = "prometheus"


def prometheus_file_sd(repo: Repository) -> list[str]:
    """prometheus.yml parses and reads jobs node and cadvisor from targets/*.json through file_sd."""
    folder = repo.root / "stacks/monitoring/prometheus"
    try:
        config, _ = load_yaml(folder / "prometheus.yml")
    except YamlError as exc:
        return [str(exc)]
    jobs = {str(j.get("job_name")): j for j in (config or {}).get("scrape_configs") or [] if isinstance(j, dict)}
    problems = []
    for job in PROMETHEUS_JOBS:
        files = [f for sd in (jobs.get(job) or {}).get("file_sd_configs") or [] for f in sd.get("files") or []]
        if not files or not all(f.startswith("/etc/prometheus/targets/") and f.endswith(".json") for f in files):
            problems.append(problem(where=f"{folder / 'prometheus.yml'}: scrape_configs.{job}",
                                    expected="file_sd_configs reading /etc/prometheus/targets/*.json",
                                    found=repr(files or None),
                                    fix="read the job's targets from the files bootstrap writes into targets/"))
    if not (folder / "targets/.gitkeep").is_file():
        problems.append(problem(where=str(folder / "targets"), expected="a targets/ folder kept in git (.gitkeep)",
                                found="none", fix="add prometheus/targets/.gitkeep"))
    return problems


def grafana_dashboards(repo: Repository) -> list[str]:
    """The datasource has uid prometheus, and the dashboards exist with fixed uids and use that datasource."""
    folder = repo.root / "stacks/monitoring/grafana"
    problems = []
    try:
        datasources, _ = load_yaml(folder / "provisioning/datasources/prometheus.yaml")
    except YamlError as exc:
        return [str(exc)]
    uids = [d.get("uid") for d in (datasources or {}).get("datasources") or [] if isinstance(d, dict)]
    if DATASOURCE_UID not in uids:
        problems.append(problem(where=str(folder / "provisioning/datasources/prometheus.yaml"),
                                expected=f"a datasource with uid {DATASOURCE_UID!r}", found=repr(uids),
                                fix="set `uid: prometheus`"))
    found: dict[str, Path] = {}
    for path in sorted((folder / "dashboards").glob("*.json")):
        try:
            board = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: cannot read the dashboard: {exc}")
            continue
        found[str(board.get("uid"))] = path
        sources = {json.dumps(ds, sort_keys=True) for ds in _datasources(board)}
        if sources - {json.dumps({"type": "prometheus", "uid": DATASOURCE_UID}, sort_keys=True)}:
            problems.append(problem(where=str(path), expected=f"every panel on datasource uid {DATASOURCE_UID!r}",
                                    found=", ".join(sorted(sources)),
                                    fix="point the panels at the provisioned datasource"))
    problems += [problem(where=str(folder / "dashboards"), expected=f"a dashboard with uid {uid!r}",
                         found=f"uids {sorted(found)}",
                         fix="add it, with a fixed `uid`") for uid in DASHBOARD_UIDS if uid not in found]
    return problems


def _datasources(node: object) -> list[object]:
    if isinstance(node, dict):
        here = [node["datasource"]] if "datasource" in node else []
        return here + [d for key, value in node.items() if key != "datasource" for d in _datasources(value)]
    if isinstance(node, list):
        return [d for item in node for d in _datasources(item)]
    return []
