"""api/internal/snapshot: direct snapshots set Status 1/2; Edge (4, 7) and Azure (3) are never snapshotted."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import pt_agentclient as agentclient

if TYPE_CHECKING:
    from pt_app import App

log = logging.getLogger("portainer.snapshot")
DIRECT_TYPES = (1, 2)  # Docker and agent-on-Docker; Kubernetes types are not supported by the stand-in


def supports_direct_snapshot(endpoint: dict[str, Any]) -> bool:
    return endpoint["Type"] in DIRECT_TYPES and bool(endpoint["URL"])


def take(app: App, endpoint: dict[str, Any]) -> dict[str, Any]:
    """Snapshot one environment and record it; raises agentclient.TargetError (nothing recorded then)."""
    snapshot, version = agentclient.snapshot(endpoint, app.signer)
    app.store.put("snapshots", endpoint["Id"], snapshot)
    if version:
        endpoint["Agent"]["Version"] = version
    return snapshot


def refresh(app: App, ident: int) -> bool:
    """Snapshot and set Status (1 up, 2 down) on the stored endpoint, as the loop and /snapshot do."""
    endpoint = app.store.get("endpoints", ident)
    if endpoint is None or not supports_direct_snapshot(endpoint):
        return False
    try:
        take(app, endpoint)
        status = 1
    except agentclient.TargetError as exc:
        log.warning("snapshot of environment %s (%s) failed: %s", endpoint["Name"], endpoint["URL"], exc)
        status = 2
    with app.store.tx() as db:
        stored = db["endpoints"].get(str(ident))
        if stored is not None:
            stored["Status"] = status
            stored["Agent"] = endpoint["Agent"]
    return status == 1


def refresh_all(app: App) -> None:
    for endpoint in app.store.all("endpoints"):
        refresh(app, endpoint["Id"])


class SnapshotLoop(threading.Thread):
    """Every SNAPSHOT_INTERVAL seconds, all direct environments (Portainer's default is 5 minutes)."""

    def __init__(self, app: App) -> None:
        super().__init__(name="snapshot-loop", daemon=True)
        self.app = app
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.app.config.snapshot_interval):
            try:
                refresh_all(self.app)
            except Exception:
                log.exception("snapshot loop iteration failed")
