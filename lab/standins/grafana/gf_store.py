"""Grafana's database, as far as the stand-in needs it: the admin user, folders, dashboards (with their
provisioning record) and generated datasource uids, kept in one JSON file under the data directory.

The rules are Grafana's dashboard service rules: version checks, same title in a folder, provisioned
dashboards that the API may neither save nor delete. Folders and dashboards share one id sequence, as they
share one table in Grafana.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "standin-grafana.json"
UID_CHARS = re.compile(r"^[a-zA-Z0-9\-_]*$")
Row = dict[str, Any]


class DashboardError(Exception):
    """A refusal with Grafana's status, message and (for some) its machine-readable `status`."""

    def __init__(self, code: int, message: str, status: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def body(self) -> Row:
        return {"message": self.message, "status": self.status} if self.status else {"message": self.message}


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_uid() -> str:
    """A short uid like Grafana's generated ones (14 characters, starting with a letter)."""
    alphabet = string.ascii_lowercase + string.digits
    return secrets.choice(string.ascii_lowercase) + "".join(secrets.choice(alphabet) for _ in range(13))


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def check_uid(uid: str) -> None:
    if len(uid) > 40:
        raise DashboardError(400, "uid too long, max 40 characters")
    if not UID_CHARS.match(uid):
        raise DashboardError(400, "uid contains illegal characters")


@dataclass
class Folder:
    id: int
    uid: str
    title: str
    created: str
    updated: str
    created_by: str
    version: int = 1

    @property
    def url(self) -> str:
        return f"/dashboards/f/{self.uid}/{slugify(self.title)}"


@dataclass
class Dashboard:
    id: int
    uid: str
    title: str
    folder_uid: str
    data: Row
    version: int
    created: str
    updated: str
    created_by: str
    updated_by: str
    provisioned: Row | None = None  # {"provider", "path", "checksum", "external_id", "allow_ui_updates"}
    tags: list[str] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return slugify(self.title)

    @property
    def url(self) -> str:
        return f"/d/{self.uid}/{self.slug}"


class Store:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / STATE_FILE
        self.lock = threading.RLock()
        self.next_id = 1
        self.user: Row = {}
        self.folders: dict[str, Folder] = {}
        self.dashboards: dict[str, Dashboard] = {}
        self.datasource_uids: dict[str, str] = {}
        self.api_datasources: list[Row] = []  # made through POST /api/datasources
        if self.path.exists():
            self._load(json.loads(self.path.read_text()))

    def _load(self, state: Row) -> None:
        self.next_id, self.user = state["next_id"], state["user"]
        self.folders = {f["uid"]: Folder(**f) for f in state["folders"]}
        self.dashboards = {d["uid"]: Dashboard(**d) for d in state["dashboards"]}
        self.datasource_uids = state["datasource_uids"]
        self.api_datasources = state.get("api_datasources", [])

    def save(self) -> None:
        state = {"next_id": self.next_id, "user": self.user, "datasource_uids": self.datasource_uids,
                 "api_datasources": self.api_datasources,
                 "folders": [asdict(f) for f in self.folders.values()],
                 "dashboards": [asdict(d) for d in self.dashboards.values()]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        temporary.replace(self.path)

    def _take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    # The admin user: created once, on the first start, as Grafana does (later env changes do not apply).
    def ensure_admin(self, login: str, email: str, password: str) -> None:
        with self.lock:
            if not self.user:
                salt = secrets.token_hex(5)
                self.user = {"login": login, "email": email, "salt": salt, "hash": _hash(password, salt)}
                self.save()

    def check_password(self, login: str, password: str) -> bool:
        user = self.user
        if not user or login not in (user["login"], user["email"]):
            return False
        return hmac.compare_digest(user["hash"], _hash(password, user["salt"]))

    def datasource_uid(self, name: str) -> str:
        """A datasource provisioned without a uid keeps the one generated for its name on its first start."""
        with self.lock:
            if name not in self.datasource_uids:
                self.datasource_uids[name] = new_uid()
                self.save()
            return self.datasource_uids[name]

    def create_folder(self, title: str, uid: str = "", user: str = "admin") -> Folder:
        with self.lock:
            title = title.strip()
            if not title:
                raise DashboardError(400, "folder title cannot be empty")
            check_uid(uid)
            if uid and (uid in self.folders or uid in self.dashboards):
                raise DashboardError(409, "a folder/dashboard with the same uid already exists")
            if any(f.title == title for f in self.folders.values()):
                raise DashboardError(409, "a folder with the same name already exists")
            stamp = now()
            folder = Folder(self._take_id(), uid or new_uid(), title, stamp, stamp, user)
            self.folders[folder.uid] = folder
            self.save()
            return folder

    def folder_by_title(self, title: str) -> Folder | None:
        return next((f for f in self.folders.values() if f.title == title), None)

    def save_dashboard(self, model: Row, folder_uid: str = "", overwrite: bool = False, user: str = "admin",
                       provisioning: Row | None = None) -> Dashboard:
        """Grafana's SaveDashboard: `provisioning` set means the provisioner writes it (always overwrites)."""
        with self.lock:
            title = str(model.get("title") or "").strip()
            if not title:
                raise DashboardError(400, "Dashboard title cannot be empty", "empty-name")
            if folder_uid and folder_uid not in self.folders:
                raise DashboardError(400, "folder not found")
            existing = self._existing(model)
            overwrite = overwrite or provisioning is not None
            if existing and existing.provisioned and provisioning is None \
                    and not existing.provisioned["allow_ui_updates"]:
                raise DashboardError(400, "Cannot save provisioned dashboard")
            if existing and model.get("version") != existing.version and not overwrite:
                raise DashboardError(412, "The dashboard has been changed by someone else", "version-mismatch")
            uid = existing.uid if existing else str(model.get("uid") or "") or new_uid()
            check_uid(uid)
            self._clear_title(title, folder_uid, uid, overwrite)
            return self._write(model, title, folder_uid, uid, existing, user, provisioning)

    def _existing(self, model: Row) -> Dashboard | None:
        if model.get("uid"):
            return self.dashboards.get(str(model["uid"]))
        if model.get("id"):
            found = next((d for d in self.dashboards.values() if d.id == model["id"]), None)
            if found is None:
                raise DashboardError(404, "Dashboard not found", "not-found")
            return found
        return None

    def _clear_title(self, title: str, folder_uid: str, uid: str, overwrite: bool) -> None:
        clash = next((d for d in self.dashboards.values()
                      if d.title == title and d.folder_uid == folder_uid and d.uid != uid), None)
        if clash is None:
            return
        if not overwrite:
            raise DashboardError(412, "A dashboard with the same name in the folder already exists", "name-exists")
        del self.dashboards[clash.uid]

    def _write(self, model: Row, title: str, folder_uid: str, uid: str, existing: Dashboard | None, user: str,
               provisioning: Row | None) -> Dashboard:
        stamp = now()
        version = existing.version + 1 if existing else 1
        ident = existing.id if existing else self._take_id()
        data = dict(model) | {"id": ident, "uid": uid, "title": title, "version": version}
        tags = [str(t) for t in model.get("tags") or [] if isinstance(t, str | int)]
        author = "Anonymous" if provisioning is not None else user
        dashboard = Dashboard(ident, uid, title, folder_uid, data, version,
                              existing.created if existing else stamp, stamp,
                              existing.created_by if existing else author, author, provisioning, tags)
        self.dashboards[uid] = dashboard
        self.save()
        return dashboard

    def delete_dashboard(self, uid: str, force: bool = False) -> Dashboard:
        """The API's delete refuses provisioned dashboards; the provisioner (force) may delete any."""
        with self.lock:
            dashboard = self.dashboards.get(uid)
            if dashboard is None:
                raise DashboardError(404, "Dashboard not found", "not-found")
            if dashboard.provisioned and not force:
                raise DashboardError(400, "provisioned dashboard cannot be deleted")
            del self.dashboards[uid]
            self.save()
            return dashboard

    def unprovision(self, uid: str) -> None:
        with self.lock:
            if uid in self.dashboards:
                self.dashboards[uid].provisioned = None
                self.save()


def _hash(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 10000, 50).hex()
