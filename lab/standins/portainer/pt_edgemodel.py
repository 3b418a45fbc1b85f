"""Edge groups and Edge stacks as Portainer CE 2.23.0 keeps and relates them (api/portainer.go EdgeGroup, EdgeStack,
EdgeStackStatus; api/internal/edge/{edgegroup,edgestack,endpoint}.go; api/internal/edge/edgestacks/status.go;
api/http/handler/edgegroups/associated_endpoints.go; api/filesystem/serialize.go; api/edge/edge.go).

Upstream keeps an EndpointRelation per environment (Edge stack ids) and updates it on every change of a stack, a
group or an environment; the stand-in computes the same relation on the fly from the groups, which gives the same
answer for static groups and for tag-based (dynamic) ones."""

from __future__ import annotations

import base64
import json
import os
import posixpath
import re
import stat
import urllib.parse
from pathlib import Path
from typing import Any

from pt_web import ci_get

EDGE_DISABLED = "Edge compute features are disabled"  # bouncer.go EdgeComputeOperation
NOT_FOUND = "object not found inside the database"  # dataservices/errors ErrObjectNotFound
EDGE_TYPES, DOCKER_TYPES, KUBE_TYPES = (4, 7), (1, 2, 4), (5, 6, 7)  # endpointutils.Is{Edge,Docker,Kubernetes}Endpoint
DEFAULT_FILES = {0: "docker-compose.yml", 1: "k8s-deployment.yml"}  # filesystem.{Compose,Manifest}FileDefaultName
_ZERO: dict[str, Any] = {"string": "", "bool": False, "int": 0, "[]int": None, "*bool": None, "*int": None}
_SEMVER = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


class DecodeError(Exception):
    """A body Go's json.Decoder refuses (worded near encoding/json's messages)."""


class GroupNotFound(Exception):
    """edge.ErrEdgeGroupNotFound."""

    def __init__(self) -> None:
        super().__init__("edge group was not found")


def _kind(value: Any) -> str:
    return ("bool" if isinstance(value, bool) else "number" if isinstance(value, int | float) else
            "string" if isinstance(value, str) else "array" if isinstance(value, list) else "object")


def _fits(value: Any, gotype: str) -> bool:
    if gotype == "string":
        return isinstance(value, str)
    if gotype in ("bool", "*bool"):
        return isinstance(value, bool)
    if gotype in ("int", "*int"):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, list) and all(v is None or _fits(v, "int") for v in value)


def go_decode(body: bytes, struct: str, fields: dict[str, str]) -> dict[str, Any]:
    """request.DecodeAndValidateJSONPayload's decoding half: keys matched case-insensitively, unknown keys ignored,
    null leaves the zero value, a wrong JSON type is an error (not a validation failure)."""
    out = {name: _ZERO[gotype] for name, gotype in fields.items()}
    if not body.strip():
        raise DecodeError("EOF")
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise DecodeError(f"invalid JSON: {exc}") from exc
    if raw is None:
        return out
    if not isinstance(raw, dict):
        raise DecodeError(f"json: cannot unmarshal {_kind(raw)} into Go value of type {struct}")
    for name, gotype in fields.items():
        value = ci_get(raw, name)
        if value is None:
            continue
        if not _fits(value, gotype):
            raise DecodeError(f"json: cannot unmarshal {_kind(value)} into Go struct field "
                              f"{struct.rpartition('.')[2]}.{name} of type {gotype.lstrip('*')}")
        out[name] = [int(v or 0) for v in value] if gotype == "[]int" else value
    return out


def is_url(text: str) -> bool:
    """govalidator.IsURL as the Git stack payloads use it (same reading as pt_stackmodel.validate_git_payload)."""
    parsed = urllib.parse.urlsplit(text)
    return parsed.scheme in ("http", "https", "git", "ssh") and bool(parsed.hostname)


# --- groups and relations ---------------------------------------------------------------------------------------

def _endpoint_tags(db: dict[str, Any], endpoint: dict[str, Any]) -> set[int]:
    group = db["groups"].get(str(endpoint.get("GroupId")), {})
    return set(endpoint.get("TagIds") or []) | set(group.get("TagIds") or [])


def group_has(db: dict[str, Any], group: dict[str, Any], endpoint: dict[str, Any]) -> bool:
    """edgeGroupRelatedToEndpoint: static membership, else the environment's tags plus its group's, all of the
    Edge group's tags (or one of them with PartialMatch)."""
    if not group["Dynamic"]:
        return endpoint["Id"] in group["Endpoints"]
    tags, wanted = _endpoint_tags(db, endpoint), group["TagIds"] or []
    return any(t in tags for t in wanted) if group["PartialMatch"] else all(t in tags for t in wanted)


def group_endpoints(db: dict[str, Any], group: dict[str, Any]) -> list[int]:
    """EdgeGroupRelatedEndpoints: a static group's list as stored; a dynamic group's Edge environments."""
    if not group["Dynamic"]:
        return list(group["Endpoints"])
    return [e["Id"] for e in _endpoints(db) if e["Type"] in EDGE_TYPES and group_has(db, group, e)]


def stack_endpoints(db: dict[str, Any], group_ids: list[int]) -> list[int]:
    """EdgeStackRelatedEndpoints: the union of the groups' environments, first seen first."""
    found: list[int] = []
    for ident in group_ids:
        group = db["edge_groups"].get(str(ident))
        if group is None:
            raise GroupNotFound()
        found += [e for e in group_endpoints(db, group) if e not in found]
    return found


def endpoint_stacks(db: dict[str, Any], endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """EndpointRelatedEdgeStacks: the Edge stacks one of whose groups holds the environment, by id."""
    mine = {g["Id"] for g in db["edge_groups"].values() if group_has(db, g, endpoint)}
    stacks = [s for s in db["edge_stacks"].values() if mine.intersection(s["EdgeGroups"])]
    return sorted(stacks, key=lambda s: int(s["Id"]))


def endpoints_by_tags(db: dict[str, Any], tag_ids: list[int], partial: bool) -> list[int]:
    """associated_endpoints.go GetEndpointsByTags (what list/inspect show for a dynamic group): the tags'
    environments and their environment groups' members, intersected (union with PartialMatch), trusted Edge only."""
    sets: list[set[int]] = []
    for tag_id in tag_ids:
        tag = db["tags"].get(str(tag_id))
        if tag is None:
            raise KeyError(NOT_FOUND)
        members = {int(e) for e in tag["Endpoints"]}
        groups = {int(g) for g in tag["EndpointGroups"]}
        sets.append(members | {e["Id"] for e in _endpoints(db) if e["GroupId"] in groups})
    chosen = (set().union(*sets) if partial else set.intersection(*sets)) if sets else set()
    return [e["Id"] for e in _endpoints(db) if e["Id"] in chosen and e["Type"] in EDGE_TYPES and e.get("UserTrusted")]


def _endpoints(db: dict[str, Any]) -> list[dict[str, Any]]:
    return [db["endpoints"][k] for k in sorted(db["endpoints"], key=int)]


def wrong_type(db: dict[str, Any], endpoint_ids: list[int], deployment_type: int) -> bool:
    """hasWrongEnvironmentType (endpoints.go); KeyError for an environment that is gone."""
    for ident in endpoint_ids:
        endpoint = db["endpoints"].get(str(ident))
        if endpoint is None:
            raise KeyError(f"failed to retrieve environment from database: {NOT_FOUND}")
        kinds = DOCKER_TYPES if deployment_type == 0 else KUBE_TYPES if deployment_type == 1 else ()
        if endpoint["Type"] not in kinds:
            return True
    return False


def forget_endpoint(db: dict[str, Any], ident: int) -> None:
    """endpoint_delete.go: the environment leaves every Edge group, every Edge stack's Status and every Edge job."""
    for group in db.get("edge_groups", {}).values():
        group["Endpoints"] = [e for e in group["Endpoints"] if e != ident]
    for stack in db.get("edge_stacks", {}).values():
        stack["Status"].pop(str(ident), None)
    for job in db.get("edge_jobs", {}).values():
        job["Endpoints"].pop(str(ident), None)


# --- Edge jobs (the admin routes are pt_routes_edgejobs) ----------------------------------------------------------

def endpoint_jobs(db: dict[str, Any], endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """buildSchedules (endpointedge_status_inspect.go): the Edge jobs naming the environment, or one of whose Edge
    groups holds it (EndpointInEdgeGroup); GroupNotFound for a group that is gone, as upstream errors then."""
    return [job for key, job in sorted(db.get("edge_jobs", {}).items(), key=lambda kv: int(kv[0]))
            if str(endpoint["Id"]) in job["Endpoints"] or _job_group_holds(db, job, endpoint["Id"])]


def _job_group_holds(db: dict[str, Any], job: dict[str, Any], endpoint_id: int) -> bool:
    """The job's groups in order, up to the first that holds the environment (a missing one before it errors)."""
    for ident in job["EdgeGroups"] or []:
        group = db["edge_groups"].get(str(ident))
        if group is None:
            raise GroupNotFound()
        if endpoint_id in group_endpoints(db, group):
            return True
    return False


def schedule(job: dict[str, Any], endpoint_id: int) -> dict[str, Any]:
    """edgeJobResponse: the script read from ScriptPath, base64 without padding (RawStdEncoding); OSError when the
    file is gone (upstream: 500 "Unable to retrieve Edge job script file")."""
    meta = (job.get("GroupLogsCollection") or {}).get(str(endpoint_id)) or job["Endpoints"].get(str(endpoint_id))
    script = Path(job["ScriptPath"]).read_bytes()
    return {"Id": job["Id"], "CollectLogs": bool((meta or {}).get("CollectLogs")),
            "CronExpression": job["CronExpression"], "Script": base64.b64encode(script).decode().rstrip("="),
            "Version": job["Version"]}


# --- stacks and statuses ----------------------------------------------------------------------------------------

def new_stack(ident: int, name: str, deployment_type: int, groups: list[int], namespaces: bool,
              now: int) -> dict[str, Any]:
    """BuildEdgeStack (internal/edge/edgestacks/service.go), keys in portainer.EdgeStack's order."""
    return {"Id": ident, "Name": name, "Status": {}, "CreationDate": now, "EdgeGroups": groups, "ProjectPath": "",
            "EntryPoint": "", "Version": 1, "NumDeployments": 0, "ManifestPath": "",
            "DeploymentType": deployment_type, "UseManifestNamespaces": namespaces}


def env_status(endpoint_id: int, deployment_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """A fresh EdgeStackStatus; Details/Error/Type are the deprecated leftovers, always zero in CE 2.23."""
    return {"Status": [], "EndpointID": endpoint_id,
            "DeploymentInfo": deployment_info or {"Version": 0, "FileVersion": 0, "ConfigHash": ""},
            "ReadyRePullImage": False,
            "Details": dict.fromkeys(("Pending", "Ok", "Error", "Acknowledged", "Remove", "RemoteUpdateSuccess",
                                      "ImagesPulled"), False),
            "Error": "", "Type": 0}


def reset_status(old: dict[str, Any], related: list[int]) -> dict[str, Any]:
    """edgestacks.NewStatus: an empty history for every related environment, DeploymentInfo kept."""
    return {str(e): env_status(e, (old.get(str(e)) or {}).get("DeploymentInfo")) for e in related}


def record_status(stack: dict[str, Any], endpoint_id: int, kind: int, error: str, when: int) -> None:
    """updateEnvStatus (edgestack_status_update.go): append to the history; Removed (4) drops the entry."""
    if kind == 4:
        stack["Status"].pop(str(endpoint_id), None)
        return
    entry = stack["Status"].setdefault(str(endpoint_id), env_status(endpoint_id))
    entry["Status"].append({"Time": when, "Type": kind, "Error": error, "RollbackTo": None})


# --- what the agent fetches -------------------------------------------------------------------------------------

def load_dir(root: Path) -> list[dict[str, Any]]:
    """filesystem.LoadDir: every entry under `root` in filepath.WalkDir order (lexical, depth first), files
    base64-encoded, Permissions the numeric os.FileMode.Perm()."""
    entries: list[dict[str, Any]] = []
    os.lstat(root)  # WalkDir reports a missing root as its error

    def walk(folder: Path) -> None:
        for path in sorted(folder.iterdir(), key=lambda p: p.name):
            info = path.lstat()
            name = path.relative_to(root).as_posix()
            entry = {"Name": name, "Content": "", "IsFile": False, "Permissions": stat.S_IMODE(info.st_mode) & 0o777}
            if stat.S_ISDIR(info.st_mode):
                entries.append(entry)
                walk(path)
                continue
            entry["Content"] = base64.b64encode(path.read_bytes()).decode()  # os.ReadFile follows a symlink
            entry["IsFile"] = True
            entries.append(entry)

    walk(root)
    return entries


def filter_for_entry_file(entries: list[dict[str, Any]], entry_file: str) -> list[dict[str, Any]] | None:
    """FilterDirForEntryFile: the entry file, the .env beside it, and folders that are string prefixes of either
    (a plain HasPrefix, as upstream). Go's nil slice (nothing kept) is JSON null."""
    dot_env = posixpath.normpath(posixpath.join(posixpath.dirname(entry_file) or ".", ".env"))
    filters = (entry_file, dot_env)
    kept = [e for e in entries
            if (e["IsFile"] and e["Name"] in filters) or (not e["IsFile"] and any(f.startswith(e["Name"])
                                                                                   for f in filters))]
    return kept or None


def _semver(version: str) -> tuple[int, int, int, int] | None:
    found = _SEMVER.match(version)
    if found is None:
        return None
    major, minor, patch, pre = found.groups()
    return int(major), int(minor or 0), int(patch or 0), 0 if pre else 1


def compat_content(entries: list[dict[str, Any]], entry_file: str, agent_version: str) -> str:
    """FilterDirForCompatibility: the entry file's text for agents older than 2.19.0 (an invalid or empty version
    sorts lowest in x/mod/semver), "" otherwise; LookupError when the entry file is absent."""
    parsed = _semver(agent_version)
    if parsed is not None and parsed >= (2, 19, 0, 1):
        return ""
    for entry in entries:
        if entry["IsFile"] and entry["Name"] == entry_file:
            return base64.b64decode(entry["Content"]).decode(errors="replace")
    raise LookupError(f"Entry file {entry_file} not found in dir entries")


def stack_payload(stack: dict[str, Any], entries: list[dict[str, Any]] | None, entry_file: str,
                  content: str) -> dict[str, Any]:
    """edge.StackPayload as endpointedge_stack_inspect.go fills it; every other field keeps its Go zero value."""
    return {"ID": 0, "Name": stack["Name"], "StackFileContent": content, "DirEntries": entries,
            "EntryFileName": entry_file, "Namespace": "" if stack["UseManifestNamespaces"] else "default",
            "Version": 0, "RollbackTo": None, "RegistryCredentials": None, "PrePullImage": False,
            "RePullImage": False, "RetryDeploy": False, "EdgeUpdateID": 0, "SupportRelativePath": False,
            "FilesystemPath": "", "EnvVars": None, "ReadyRePullImage": False}
