"""The Stack document and payload validation for compose stacks from Git (api/portainer.go Stack, AutoUpdateSettings;
api/http/handler/stacks/create_compose_stack.go composeStackFromGitRepositoryPayload; api/git/update/validate.go)."""

from __future__ import annotations

import copy
import re
import urllib.parse
import uuid
from typing import Any

from pt_web import HttpError, ci_get

DEPLOYABLE_TYPES = (1, 2)  # Docker engine, agent on Docker; Edge (4, 7) stacks are only recorded (no tunnel)
_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float | None:
    """time.ParseDuration in seconds ("1m30s", "2s", "0"); None when Go would refuse it."""
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    if not body or _DURATION.sub("", body):
        return None
    total = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(body))
    return -total if text.startswith("-") else total


def auto_update_problem(auto: Any) -> str:
    """update.ValidateAutoUpdateSettings."""
    if auto is None:
        return ""
    if not isinstance(auto, dict):
        return "invalid AutoUpdate"
    webhook, interval = str(ci_get(auto, "Webhook") or ""), str(ci_get(auto, "Interval") or "")
    if not webhook and not interval:
        return "Webhook or Interval must be provided"
    if webhook and not _is_uuid(webhook):
        return "invalid Webhook format"
    if interval and go_duration(interval) is None:
        return "invalid Interval format"
    return ""


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def auto_update(auto: Any) -> dict[str, Any] | None:
    if not isinstance(auto, dict):
        return None
    return {"Interval": str(ci_get(auto, "Interval") or ""), "Webhook": str(ci_get(auto, "Webhook") or ""),
            "JobID": "", "ForceUpdate": bool(ci_get(auto, "ForceUpdate")),
            "ForcePullImage": bool(ci_get(auto, "ForcePullImage"))}


def validate_git_payload(payload: dict[str, Any]) -> None:
    """composeStackFromGitRepositoryPayload.Validate: 400 "Invalid request payload" with the reason."""
    repo_url = str(ci_get(payload, "RepositoryURL") or "")
    parsed = urllib.parse.urlsplit(repo_url)
    problem = ("Invalid stack name" if not ci_get(payload, "Name") else
               "Invalid repository URL. Must correspond to a valid URL format"
               if parsed.scheme not in ("http", "https", "git", "ssh") or not parsed.hostname else
               "Invalid repository credentials. Password must be specified when authentication is enabled"
               if ci_get(payload, "RepositoryAuthentication") and not ci_get(payload, "RepositoryPassword") else
               auto_update_problem(ci_get(payload, "AutoUpdate")))
    if problem:
        raise HttpError(400, "Invalid request payload", problem)


def normalize_stack_name(name: str) -> str:
    """api/exec/compose_stack.go NormalizeStackName: lowercase, drop every run outside [-_a-z0-9]."""
    return re.sub(r"[^-_a-z0-9]+", "", name.lower())


def git_stack(payload: dict[str, Any], endpoint_id: int, username: str, now: int) -> dict[str, Any]:
    """The Stack as the compose Git builder fills it (Id, ProjectPath and ConfigHash come later)."""
    compose_file = str(ci_get(payload, "ComposeFile") or "docker-compose.yml")
    name = normalize_stack_name(str(ci_get(payload, "Name")))
    auth = {"Username": str(ci_get(payload, "RepositoryUsername") or ""),
            "Password": str(ci_get(payload, "RepositoryPassword") or ""), "GitCredentialID": 0} \
        if ci_get(payload, "RepositoryAuthentication") else None
    return {
        "Id": 0, "Name": name, "Type": 2, "EndpointId": endpoint_id, "SwarmId": "", "EntryPoint": compose_file,
        "Env": ci_get(payload, "Env") or [],
        "ResourceControl": {"Id": 0, "ResourceId": f"{endpoint_id}_{name}", "SubResourceIds": [], "Type": 6,
                            "UserAccesses": [], "TeamAccesses": [], "Public": False, "AdministratorsOnly": True,
                            "System": False},
        "Status": 1, "ProjectPath": "", "CreationDate": now, "CreatedBy": username, "UpdateDate": 0,
        "UpdatedBy": "", "AdditionalFiles": ci_get(payload, "AdditionalFiles") or [],
        "AutoUpdate": auto_update(ci_get(payload, "AutoUpdate")), "Option": None,
        "GitConfig": {"URL": str(ci_get(payload, "RepositoryURL")).rstrip("/"),
                      "ReferenceName": str(ci_get(payload, "RepositoryReferenceName") or ""),
                      "ConfigFilePath": compose_file, "Authentication": auth, "ConfigHash": "",
                      "TLSSkipVerify": bool(ci_get(payload, "TLSSkipVerify"))},
        "FromAppTemplate": bool(ci_get(payload, "FromAppTemplate")), "Namespace": "",
    }


def credentials(stack: dict[str, Any]) -> tuple[str, str]:
    auth = (stack.get("GitConfig") or {}).get("Authentication") or {}
    return str(auth.get("Username") or ""), str(auth.get("Password") or "")


def public(stack: dict[str, Any]) -> dict[str, Any]:
    """Every handler blanks GitConfig.Authentication.Password before answering."""
    shown = copy.deepcopy(stack)
    auth = (shown.get("GitConfig") or {}).get("Authentication")
    if auth:
        auth["Password"] = ""
    return shown
