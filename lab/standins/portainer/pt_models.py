"""JSON shapes of api/portainer.go: Endpoint, its list filters, Edge keys and heartbeat."""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

from pt_web import HttpError, Request

EDGE_TYPES = (4, 7)
SECURITY_SETTINGS = {
    "allowBindMountsForRegularUsers": True, "allowPrivilegedModeForRegularUsers": True,
    "allowVolumeBrowserForRegularUsers": False, "allowHostNamespaceForRegularUsers": True,
    "allowDeviceMappingForRegularUsers": True, "allowStackManagementForRegularUsers": True,
    "allowContainerCapabilitiesForRegularUsers": True, "allowSysctlSettingForRegularUsers": True,
    "enableHostManagementFeatures": False,
}


def new_endpoint(ident: int, name: str, kind: int, url: str) -> dict[str, Any]:
    """A stored Endpoint: every key of the JSON except the computed QueryDate/Heartbeat/Snapshots."""
    return {
        "Id": ident, "Name": name, "Type": kind, "ContainerEngine": "docker", "URL": url, "GroupId": 1,
        "PublicURL": "", "Gpus": [], "TLSConfig": {"TLS": False, "TLSSkipVerify": False}, "TagIds": [],
        "Status": 1, "UserAccessPolicies": {}, "TeamAccessPolicies": {}, "EdgeID": "", "EdgeKey": "",
        "EdgeCheckinInterval": 0, "Kubernetes": {"Snapshots": [], "Configuration": {}, "Flags": {}},
        "ComposeSyntaxMaxVersion": "3.9", "SecuritySettings": dict(SECURITY_SETTINGS), "LastCheckInDate": 0,
        "UserTrusted": False, "PostInitMigrations": {"MigrateIngresses": False, "MigrateGPUs": False},
        "Edge": {"AsyncMode": False, "PingInterval": 0, "SnapshotInterval": 0, "CommandInterval": 0},
        "Agent": {"Version": ""}, "AuthorizedUsers": None, "AuthorizedTeams": None, "Tags": None,
    }


def checkin_interval(endpoint: dict[str, Any], default: int) -> int:
    return int(endpoint.get("EdgeCheckinInterval") or default)


def render(endpoint: dict[str, Any], snapshot: dict[str, Any] | None, now: int, checkin: int, slack: int,
           with_snapshot: bool = True) -> dict[str, Any]:
    """The Endpoint as list/inspect return it (omitempty keys dropped, Edge heartbeat computed)."""
    out = dict(endpoint)
    out["QueryDate"], out["Heartbeat"] = 0, False  # EdgeCheckinInterval stays as stored (0: the global one)
    if endpoint["Type"] in EDGE_TYPES:
        out["QueryDate"] = now
        out["Heartbeat"] = heartbeat(now, endpoint["LastCheckInDate"], checkin_interval(endpoint, checkin), slack)
    out["Snapshots"] = [snapshot] if snapshot and with_snapshot else []
    for key in ("EdgeID", "UserTrusted"):
        if not out.get(key):
            out.pop(key, None)
    return out


def heartbeat(query_date: int, last_checkin: int, checkin: int, slack: int = 20) -> bool:
    """api/internal/endpointutils UpdateEdgeEndpointHeartbeat: QueryDate - LastCheckInDate <= 2*checkin + 20."""
    return last_checkin > 0 and query_date - last_checkin <= 2 * checkin + slack


def edge_key(portainer_url: str, tunnel_port: int, fingerprint: str, ident: int) -> str:
    host = edge_host(portainer_url)
    raw = f"{portainer_url}|{host}:{tunnel_port}|{fingerprint}|{ident}"
    return base64.b64encode(raw.encode()).rstrip(b"=").decode()


def edge_host(portainer_url: str) -> str:
    """edge.ParseHostForEdge: the hostname only; empty or localhost is refused."""
    parsed = urllib.parse.urlsplit(portainer_url if "://" in portainer_url else f"https://{portainer_url}")
    host = parsed.hostname or ""
    if not host or host == "localhost":
        raise HttpError(400, "Invalid request payload", "cannot use localhost or an empty host as environment URL")
    return host


def bracket(req: Request, name: str) -> list[int]:
    """filter.go getArrayQueryParameter: only `name[]` counts; plain `name=` is ignored."""
    try:
        return [int(v) for v in req.query.get(f"{name}[]", [])]
    except ValueError as exc:
        raise HttpError(400, f"Invalid {name} query parameter", str(exc)) from exc


def matches(endpoint: dict[str, Any], req: Request, groups: dict[int, dict[str, Any]],
            tag_names: dict[int, str]) -> bool:
    """One rendered endpoint against the list filters (types, tags, groups, status, ids, name, search)."""
    types, group_ids, ids = bracket(req, "types"), bracket(req, "groupIds"), bracket(req, "endpointIds")
    statuses, tags = bracket(req, "status"), bracket(req, "tagIds")
    status = (1 if endpoint["Heartbeat"] else 2) if endpoint["Type"] in EDGE_TYPES else endpoint["Status"]
    group = groups.get(endpoint["GroupId"], {})
    own_tags = set(endpoint["TagIds"]) | set(group.get("TagIds", []))
    partial = req.arg("tagsPartialMatch") == "true"
    checks = [
        not types or endpoint["Type"] in types, not group_ids or endpoint["GroupId"] in group_ids,
        not ids or endpoint["Id"] in ids, not statuses or status in statuses,
        not tags or (bool(own_tags & set(tags)) if partial else set(tags) <= own_tags),
        not req.arg("name") or endpoint["Name"] == req.arg("name"),
    ]
    search = req.arg("search").lower()
    if search:
        words = [endpoint["Name"], endpoint["URL"], group.get("Name", ""),
                 *(tag_names.get(t, "") for t in endpoint["TagIds"])]
        checks.append(any(search in word.lower() for word in words))
    return all(checks)


def sort_key(sort: str, group_names: dict[int, str]) -> Any:
    keys = {"Name": lambda e: e["Name"].lower(), "Group": lambda e: group_names.get(e["GroupId"], "").lower(),
            "Status": lambda e: e["Status"], "LastCheckIn": lambda e: e["LastCheckInDate"],
            "EdgeID": lambda e: e.get("EdgeID", "")}
    return keys.get(sort, lambda e: e["Id"])


def parse_bool(value: str) -> bool:
    """Form booleans of endpoint_create.go: only the exact string "true" is true."""
    return value == "true"
