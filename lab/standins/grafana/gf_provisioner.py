"""Dashboard provisioning from files, re-read every `updateIntervalSeconds` as Grafana's file reader does.

Each pass: every *.json under the provider's path (hidden directories skipped) whose content changed, or
whose dashboard is gone from the database, is written into its folder (overwriting, version + 1). A file
that no longer exists loses its dashboard, or with `disableDeletion` only the provisioning record (the
dashboard stays, now unprovisioned). A file that does not parse is logged and its dashboard kept.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path

from gf_provisioning import Provider
from gf_store import Dashboard, DashboardError, Store

Log = Callable[[str], None]


def dashboard_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*.json")):
        relative = path.relative_to(root).parts
        if path.is_file() and not any(part.startswith(".") for part in relative[:-1]):
            found.append(path)
    return found


class DashboardProvisioner:
    def __init__(self, store: Store, providers: list[Provider], log: Log = print) -> None:
        self.store, self.providers, self.log = store, providers, log
        self.stop = threading.Event()

    def sync_all(self) -> None:
        for provider in self.providers:
            self.sync(provider)

    def start(self) -> None:
        for provider in self.providers:
            threading.Thread(target=self._loop, args=(provider,), daemon=True).start()

    def _loop(self, provider: Provider) -> None:
        while not self.stop.wait(provider.interval):
            try:
                self.sync(provider)
            except Exception as error:
                self.log(f"logger=provisioning.dashboard level=error msg=\"provisioning failed\" error=\"{error}\"")

    def sync(self, provider: Provider) -> None:
        root = provider.path.resolve()
        if not root.is_dir():
            self.log(f"logger=provisioning.dashboard level=error msg=\"Cannot read directory\" path={root}")
        files = dashboard_files(root)
        with self.store.lock:
            records = {d.provisioned["path"]: d for d in self.store.dashboards.values()
                       if d.provisioned and d.provisioned["provider"] == provider.name}
            claimed: set[str] = set()
            for path in files:
                self._one(provider, root, path, records.get(str(path)), claimed)
            for path, dashboard in records.items():
                if path not in {str(p) for p in files}:
                    self._gone(provider, dashboard)

    def _one(self, provider: Provider, root: Path, path: Path, record: Dashboard | None, claimed: set[str]) -> None:
        content = path.read_bytes()
        checksum = hashlib.sha256(content).hexdigest()
        folder_uid = self._folder(provider, root, path)
        if record and record.provisioned and record.provisioned["checksum"] == checksum \
                and record.folder_uid == folder_uid:
            claimed.add(record.uid)
            return
        try:
            model = json.loads(content)
            if not isinstance(model, dict):
                raise ValueError("not a JSON object")
        except ValueError as error:
            self.log(f"logger=provisioning.dashboard level=error msg=\"failed to load dashboard from \" "
                     f"file={path} error=\"{error}\"")
            return
        self._write(provider, path, record, model, folder_uid, checksum, claimed)

    def _write(self, provider: Provider, path: Path, record: Dashboard | None, model: dict[str, object],
               folder_uid: str, checksum: str, claimed: set[str]) -> None:
        model = {key: value for key, value in model.items() if key != "id"}
        uid = str(model.get("uid") or (record.uid if record else ""))
        if uid and uid in claimed:
            self.log(f"logger=provisioning.dashboard level=error msg=\"the same UID is used more than once\" "
                     f"uid={uid} file={path}")
            return
        if record and record.uid != uid and record.uid in self.store.dashboards:
            self.store.delete_dashboard(record.uid, force=True)  # the file now names another uid
        provisioning = {"provider": provider.name, "path": str(path), "checksum": checksum,
                        "external_id": str(path.relative_to(provider.path.resolve())),
                        "allow_ui_updates": provider.allow_ui_updates}
        try:
            saved = self.store.save_dashboard(model | {"uid": uid}, folder_uid, provisioning=provisioning)
        except DashboardError as error:
            self.log(f"logger=provisioning.dashboard level=error msg=\"failed to save dashboard\" file={path} "
                     f"error=\"{error.message}\"")
            return
        claimed.add(saved.uid)

    def _gone(self, provider: Provider, dashboard: Dashboard) -> None:
        if provider.disable_deletion:
            self.store.unprovision(dashboard.uid)
        elif dashboard.uid in self.store.dashboards:
            self.store.delete_dashboard(dashboard.uid, force=True)

    def _folder(self, provider: Provider, root: Path, path: Path) -> str:
        if provider.folders_from_files:
            title = path.parent.name if path.parent != root else ""
            uid = ""
        else:
            title, uid = provider.folder, provider.folder_uid
        if not title and not uid:
            return ""  # the General folder
        if uid:
            if uid not in self.store.folders:
                self.store.create_folder(title or uid, uid, user="Anonymous")
            return uid
        folder = self.store.folder_by_title(title) or self.store.create_folder(title, user="Anonymous")
        return folder.uid
