"""The static checks of the repository: the repository as they read it (`Repository`, its compose files and
inventory read once), and its stack folders, `.env.example` files, inventory agreement and git hygiene. The checks
of each compose service are in homelab.checks.static_services, those of the monitoring configuration in
homelab.checks.static_monitoring.

Every check returns a list of problems (empty = fine); each problem is one line, in the shape every spec's
failure has (homelab.checks.problem): `expected ...; found ...; where: FILE:LINE: path; fix: ...`. The static
specs (tests/static) assert the lists are empty; the selftests feed broken copies to the same checks. Nothing
here needs a host.
"""

from __future__ import annotations

import functools
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from homelab.checks import problem
from homelab.model.compose import COMPOSE_FILE, ComposeError, ComposeFile, ComposeService, load_compose
from homelab.model.inventory import STACK_PHASES, Inventory
from homelab.model.inventory_loader import InventoryError, load_inventory

ENV_EXAMPLE = ".env.example"
STACK_FILES = (COMPOSE_FILE, ENV_EXAMPLE, "README.md")
UNPARSED = "(unparsed)"   # the service id used when a stack's compose file cannot be read
ALLOW_TCP_MARKER = "homelab: allow-docker-tcp"   # a line carrying this is a deliberate, reviewed exception
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
# dockerd listening on TCP: a -H or --host flag with a tcp URL, or a tcp URL in daemon.json "hosts".
_DOCKERD_TCP = re.compile(r"(?:(?:^|\s)-H|--host)[\s=]*[\"']?tcp:/{2}|\"hosts\"\s*:\s*\[[^\]]*tcp:/{2}")
_SCAN_SKIP_DIRS = ("tests/", "selftests/")            # specs and selftests quote the patterns they look for
_SCAN_SKIP_SUFFIXES = (".md", ".rst", ".txt")

ServiceCheck = Callable[[ComposeFile, ComposeService, Inventory], list[str]]  # homelab.checks.static_services


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
