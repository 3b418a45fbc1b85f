"""The static checks of each compose service against the rules of docs/stacks.md and the inventory: a pinned
image, a healthcheck that can run in it, a restart policy, its container name, the Docker socket and host access
only where the inventory grants them, secrets by reference only, its place and ports in the inventory, no Docker
API port (the specs S-SVC, and S-INV-003 and S-INV-004).

Each check takes (compose file, service, inventory) and returns a list of problems (empty = fine), worded by
homelab.checks.problem; `Repository.check_service` (homelab.checks.static) runs one against a stack's service.
Nothing here needs a host.
"""

from __future__ import annotations

import re
import shlex

from homelab.checks import problem
from homelab.checks.containers import HOST_ACCESS_TEXT, host_access_items, is_root_mount
from homelab.model.compose import ComposeFile, ComposeService, image_tag
from homelab.model.inventory import Inventory

FLOATING_TAGS = frozenset({"latest", "stable", "edge", "nightly", "main", "master", "dev", "develop"})
EXEMPTION_LABEL = "homelab.healthcheck"
RESTART_OK = ("unless-stopped", "always")
DOCKER_API_PORTS = frozenset({2375, 2376})
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|(^|_)KEY$|API_KEY|PRIVATE|CREDENTIAL")
_SECRET_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}$")
_RUNTIME_REF = re.compile(r"^\$\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$")  # the container's env
_INTERPOLATION = re.compile(r"\$\{[^}]*\}")
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_NOT_A_VALUE = re.compile(r"(FILE|PATH|DIR|ENABLED?|DISABLED?)$")  # --password-file=/run/secrets/x names a file

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
