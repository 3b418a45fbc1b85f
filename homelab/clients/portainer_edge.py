"""Portainer CE 2.23's Edge compute API: the setting that turns it on, Edge groups, Edge stacks and Edge jobs
(api/http/handler/edgegroups, edgestacks, edgejobs; facts in docs/design/edge-stacks.md and the Portainer stand-in's
README, "Edge jobs"), over a logged-in `Portainer`.

Every route but the status ones is an admin route, and answers 503 "Edge compute features are disabled" until
`EnableEdgeComputeFeatures` is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homelab.clients.portainer import DEPLOY_TIMEOUT, Json, Portainer

AGENT_FILES = "/tmp/edge_stacks"  # noqa: S108 - where the agent writes a stack's files, in its container (agent.go)
RUNNING = 7  # EdgeStackStatusType (api/portainer.go): what an agent reports once every service runs
ERROR = 2
STATUS_NAMES = {0: "Pending", 1: "DeploymentReceived", 2: "Error", 3: "Acknowledged", 4: "Removed",
                5: "RemoteUpdateSuccess", 6: "ImagesPulled", 7: "Running", 8: "Deploying", 9: "Removing",
                10: "PausedDeploying", 11: "RollingBack", 12: "RolledBack", 13: "Completed"}


@dataclass(frozen=True)
class EdgeApi:
    portainer: Portainer

    def settings(self) -> Json:
        result: Json = self.portainer._json("GET", "/api/settings")
        return result

    def enable(self) -> None:
        """PUT /api/settings EnableEdgeComputeFeatures (settings_update.go; the field is a *bool)."""
        self.portainer.request("PUT", "/api/settings", json={"EnableEdgeComputeFeatures": True})

    # -- groups ------------------------------------------------------------------------------------------------
    def groups(self) -> list[Json]:
        result: list[Json] = self.portainer._json("GET", "/api/edge_groups")
        return result

    def create_group(self, name: str, endpoints: list[int]) -> Json:
        result: Json = self.portainer._json("POST", "/api/edge_groups", json={
            "Name": name, "Dynamic": False, "TagIDs": [], "Endpoints": endpoints, "PartialMatch": False})
        return result

    def update_group(self, group_id: int, name: str, endpoints: list[int]) -> Json:
        result: Json = self.portainer._json("PUT", f"/api/edge_groups/{group_id}", json={
            "Name": name, "Dynamic": False, "TagIDs": [], "Endpoints": endpoints, "PartialMatch": False})
        return result

    # -- stacks ------------------------------------------------------------------------------------------------
    def stacks(self) -> list[Json]:
        result: list[Json] = self.portainer._json("GET", "/api/edge_stacks")
        return result

    def stack(self, stack_id: int) -> Json:
        result: Json = self.portainer._json("GET", f"/api/edge_stacks/{stack_id}")
        return result

    def create_from_git(self, payload: Json) -> Json:
        """POST /api/edge_stacks/create/repository (edgeStackFromGitRepositoryPayload): Portainer clones the
        reference once; the agents fetch the entry file when they next poll."""
        result: Json = self.portainer._json("POST", "/api/edge_stacks/create/repository", json=payload,
                                            timeout=DEPLOY_TIMEOUT)
        return result

    def file(self, stack_id: int) -> str:
        """GET /api/edge_stacks/{id}/file: the entry file the agents deploy."""
        return str(self.portainer._json("GET", f"/api/edge_stacks/{stack_id}/file").get("StackFileContent", ""))

    def redeploy(self, stack: Json, content: str) -> Json:
        """PUT /api/edge_stacks/{id} with UpdateVersion (edgestack_update.go): the same file and groups, Version+1,
        so every agent runs `up -d` again (compose recreates what differs from the file)."""
        result: Json = self.portainer._json("PUT", f"/api/edge_stacks/{stack['Id']}", json={
            "StackFileContent": content, "UpdateVersion": True, "EdgeGroups": stack.get("EdgeGroups") or [],
            "DeploymentType": int(stack.get("DeploymentType", 0)), "UseManifestNamespaces": False})
        return result

    def delete(self, stack_id: int) -> None:
        self.portainer.request("DELETE", f"/api/edge_stacks/{stack_id}", ok=(200, 204))

    # -- jobs: scripts the agents of the chosen Edge environments run as root on the host ------------------------
    def jobs(self) -> list[Json]:
        """GET /api/edge_jobs: every Edge job (`Endpoints` a map keyed by environment id as a string)."""
        result: list[Json] = self.portainer._json("GET", "/api/edge_jobs")
        return result

    def create_job_from_string(self, name: str, cron: str, script: str, endpoints: Sequence[int] = (),
                               groups: Sequence[int] = (), recurring: bool = False) -> Json:
        """POST /api/edge_jobs/create/string (edgeJobCreateFromFileContentPayload): `script` runs on the hosts of
        `endpoints` and of the Edge groups `groups`, once at `cron` or on it when `recurring`."""
        result: Json = self.portainer._json("POST", "/api/edge_jobs/create/string", json={
            "Name": name, "CronExpression": cron, "Recurring": recurring, "Endpoints": list(endpoints),
            "EdgeGroups": list(groups), "FileContent": script})
        return result

    def delete_job(self, job_id: int) -> None:
        """DELETE /api/edge_jobs/{id}: the job and its script go; the agents drop it at their next poll."""
        self.portainer.request("DELETE", f"/api/edge_jobs/{job_id}", ok=(200, 204))


def last_status(stack: Json, endpoint_id: int) -> tuple[int | None, str]:
    """The last status an environment's agent reported for the Edge stack's current version (`Status` is a
    history, appended to; an update resets it), and its error: (None, "") when it reported none."""
    entry: Any = (stack.get("Status") or {}).get(str(endpoint_id)) or {}
    history = entry.get("Status") or []
    if not history:
        return None, ""
    last = history[-1]
    return int(last.get("Type", 0)), str(last.get("Error") or "")


def status_name(status: int | None) -> str:
    return "no status" if status is None else f"{STATUS_NAMES.get(status, 'status')} ({status})"
