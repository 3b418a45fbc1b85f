"""Grafana's provisioning files: datasources/*.yaml and dashboards/*.yaml providers, with env interpolation.

Every string value in a provisioning YAML is expanded as Grafana does: `$VAR` and `${VAR}` from the
environment (unset: empty), `$__env{VAR}`, `$__file{path}` (content, whitespace trimmed), and `$$` for a
literal `$`. Dashboard JSON files are not interpolated (Grafana does not either).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MACRO = re.compile(r"\$__(env|file)\{([^}]*)\}")
NAME = re.compile(r"[A-Za-z0-9_]+")
SHELL_SPECIAL = set("*#$@!?-0123456789")


class ProvisioningError(Exception):
    """A provisioning file Grafana refuses (it stops at startup with this message)."""


def _expand_env(text: str, env: dict[str, str]) -> str:
    """Go's os.ExpandEnv: `${name}` or `$name`; a `$` not followed by a name stays as it is."""
    out, i = [], 0
    while i < len(text):
        if text[i] != "$" or i + 1 == len(text):
            out.append(text[i])
            i += 1
            continue
        rest = text[i + 1:]
        if rest[0] == "{":
            end = rest.find("}")
            if end <= 1:  # "${" without "}" or "${}": Go eats the bad syntax
                i += 1 + (len(rest) if end < 0 else 2)
                continue
            out.append(env.get(rest[1:end], ""))
            i += end + 2
        elif rest[0] in SHELL_SPECIAL:
            out.append(env.get(rest[0], ""))
            i += 2
        elif match := NAME.match(rest):
            out.append(env.get(match.group(), ""))
            i += 1 + match.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def expand(text: str, env: dict[str, str]) -> str:
    def macro(match: re.Match[str]) -> str:
        kind, argument = match.groups()
        if kind == "env":
            return env.get(argument, "")
        try:
            return Path(argument).read_text().strip()
        except OSError as error:
            raise ProvisioningError(f"$__file{{{argument}}}: {error.strerror}") from error

    return "$".join(_expand_env(MACRO.sub(macro, part), env) for part in text.split("$$"))


def interpolate(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, str):
        return expand(value, env)
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    return value


def _yaml_files(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(p for p in directory.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file()):
        try:
            content = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise ProvisioningError(f"could not parse provisioning file {path}: {error}") from error
        if isinstance(content, dict):
            found.append((path, content))
    return found


def _bool(value: Any) -> bool:
    return value.strip().lower() == "true" if isinstance(value, str) else bool(value)


def _int(value: Any, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


@dataclass
class DatasourceFiles:
    """What datasources/*.yaml ask for: datasources to (re)create and names to delete first."""

    datasources: list[dict[str, Any]] = field(default_factory=list)
    delete: list[tuple[int, str]] = field(default_factory=list)


def read_datasources(directory: Path, env: dict[str, str]) -> DatasourceFiles:
    wanted = DatasourceFiles()
    for path, content in _yaml_files(directory):
        content = interpolate(content, env)
        for item in content.get("deleteDatasources") or []:
            wanted.delete.append((_int(item.get("orgId"), 1), str(item.get("name", ""))))
        for item in content.get("datasources") or []:
            if not item.get("name"):
                raise ProvisioningError(f"{path}: datasource is missing the name field")
            wanted.datasources.append(_datasource(item))
    defaults: set[int] = set()
    for source in wanted.datasources:
        if source["isDefault"] and source["orgId"] in defaults:
            raise ProvisioningError("datasource.yaml config is invalid. Only one datasource per organization "
                                    "can be marked as default")
        if source["isDefault"]:
            defaults.add(source["orgId"])
    return wanted


def _datasource(item: dict[str, Any]) -> dict[str, Any]:
    access = item.get("access") or "proxy"
    if access not in {"proxy", "direct"}:
        raise ProvisioningError(f"datasource {item['name']}: invalid access value {access!r}")
    return {"name": str(item["name"]), "type": str(item.get("type", "")), "uid": str(item.get("uid") or ""),
            "access": access, "orgId": _int(item.get("orgId"), 1), "url": str(item.get("url") or ""),
            "user": str(item.get("user") or ""), "database": str(item.get("database") or ""),
            "basicAuth": _bool(item.get("basicAuth", False)), "basicAuthUser": str(item.get("basicAuthUser") or ""),
            "withCredentials": _bool(item.get("withCredentials", False)),
            "isDefault": _bool(item.get("isDefault", False)), "jsonData": item.get("jsonData") or {},
            "secureJsonFields": dict.fromkeys(item.get("secureJsonData") or {}, True),
            "secureJsonData": item.get("secureJsonData") or {},
            "version": _int(item.get("version"), 1), "readOnly": not _bool(item.get("editable", False))}


@dataclass(frozen=True)
class Provider:
    """One dashboards provider (dashboards/*.yaml, `providers:`), type `file`."""

    name: str
    org_id: int
    folder: str
    folder_uid: str
    path: Path
    folders_from_files: bool
    disable_deletion: bool
    allow_ui_updates: bool
    interval: int


def read_providers(directory: Path, env: dict[str, str]) -> list[Provider]:
    providers: list[Provider] = []
    for path, content in _yaml_files(directory):
        for item in interpolate(content, env).get("providers") or []:
            providers.append(_provider(path, item))
    names = [p.name for p in providers]
    if len(names) != len(set(names)):
        raise ProvisioningError("dashboard provider name is not unique")
    return providers


def _provider(path: Path, item: dict[str, Any]) -> Provider:
    options = item.get("options") or {}
    folder_path = options.get("path") or options.get("folder")  # `folder` is the pre-v1 spelling
    if not folder_path:
        raise ProvisioningError(f"{path}: provider {item.get('name')!r} has no options.path")
    from_files = _bool(options.get("foldersFromFilesStructure", False))
    if from_files and (item.get("folder") or item.get("folderUid")):
        raise ProvisioningError("'folder' and 'folderUID' should be empty using 'foldersFromFilesStructure' option")
    interval = _int(item.get("updateIntervalSeconds"), 10)
    return Provider(name=str(item.get("name", "")), org_id=_int(item.get("orgId"), 1),
                    folder=str(item.get("folder") or ""), folder_uid=str(item.get("folderUid") or ""),
                    path=Path(str(folder_path)), folders_from_files=from_files,
                    disable_deletion=_bool(item.get("disableDeletion", False)),
                    allow_ui_updates=_bool(item.get("allowUiUpdates", False)),
                    interval=interval if interval > 0 else 10)
