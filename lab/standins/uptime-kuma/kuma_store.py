"""State of the Uptime Kuma stand-in: users, monitors, heartbeats, status pages, persisted as one JSON file.

The monitor operations (add, edit, delete, pause, resume, list) and the heartbeat listeners are the seam a
Socket.IO front end plugs into later: its `add`, `editMonitor`, `deleteMonitor`, `pauseMonitor`,
`resumeMonitor`, `getMonitorList` events map one to one onto these methods, and `heartbeat` events onto
`listeners`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

UP, DOWN, PENDING, MAINTENANCE = 1, 0, 2, 3
KEEP_BEATS = 100
Row = dict[str, Any]
MONITOR_DEFAULTS: Row = {"type": "http", "url": None, "hostname": None, "port": None, "keyword": None,
                         "interval": 60, "timeout": 48, "maxretries": 0, "active": True, "pushToken": None,
                         "dns_resolve_server": "1.1.1.1", "dns_resolve_type": "A", "ignoreTls": False,
                         "accepted_statuscodes": ["200-299"], "method": "GET"}
MONITOR_TYPES = ("http", "port", "push", "dns", "keyword")
PAGE_DEFAULTS: Row = {"description": None, "icon": "/icon.svg", "theme": "auto", "published": True,
                      "showTags": False, "customCSS": "body {\n  \n}\n", "footerText": None, "showPoweredBy": True,
                      "googleAnalyticsId": None, "showCertificateExpiry": False, "groups": []}


def now_text() -> str:
    """Heartbeat times as 1.23 writes them: `YYYY-MM-DD HH:MM:SS.mmm` (UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def hash_password(password: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    return f"pbkdf2${salt}${hashlib.pbkdf2_hmac('sha256', password.encode(), salt.encode(), 100_000).hex()}"


class Store:
    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "standin-kuma.json"
        self.lock = threading.RLock()
        self.listeners: list[Callable[[Row, Row], None]] = []
        if self.path.exists():
            self.data: dict[str, Any] = json.loads(self.path.read_text())
        else:
            self.data = {"users": [], "monitors": [], "beats": {}, "status_pages": [], "next_id": 1}

    def save(self) -> None:
        with self.lock:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=1))
            os.replace(tmp, self.path)

    # --- users (1.23: the first user is the only one) ---------------------------------------------------------
    def need_setup(self) -> bool:
        return not self.data["users"]

    def setup(self, username: str, password: str) -> None:
        with self.lock:
            if not self.need_setup():
                raise ValueError("Uptime Kuma has been initialized. If you want to run setup again, please "
                                 "delete the database.")
            self.data["users"].append({"id": 1, "username": username, "password": hash_password(password)})
            self.save()

    def check_first_user(self, username: str, password: str) -> bool:
        if self.need_setup():
            return False
        user = self.data["users"][0]
        salt = user["password"].split("$")[1]
        return user["username"] == username and secrets.compare_digest(hash_password(password, salt),
                                                                       user["password"])

    # --- monitors ---------------------------------------------------------------------------------------------
    def monitors(self) -> list[Row]:
        with self.lock:
            return [dict(m) for m in self.data["monitors"]]

    def monitor(self, monitor_id: int) -> Row:
        for monitor in self.data["monitors"]:
            if monitor["id"] == monitor_id:
                return monitor
        raise KeyError(f"Monitor {monitor_id} not found")

    def add_monitor(self, fields: Row) -> Row:
        if fields.get("type", "http") not in MONITOR_TYPES:
            raise ValueError(f"monitor type {fields.get('type')!r} is not one of {', '.join(MONITOR_TYPES)}")
        if not fields.get("name"):
            raise ValueError("a monitor needs a name")
        with self.lock:
            monitor = MONITOR_DEFAULTS | fields | {"id": self.data["next_id"]}
            if monitor["type"] == "push" and not monitor["pushToken"]:
                monitor["pushToken"] = secrets.token_urlsafe(24)[:32]
            self.data["next_id"] += 1
            self.data["monitors"].append(monitor)
            self.save()
            return dict(monitor)

    def edit_monitor(self, monitor_id: int, fields: Row) -> Row:
        with self.lock:
            monitor = self.monitor(monitor_id)
            monitor.update({k: v for k, v in fields.items() if k != "id"})
            self.save()
            return dict(monitor)

    def delete_monitor(self, monitor_id: int) -> None:
        with self.lock:
            self.data["monitors"].remove(self.monitor(monitor_id))
            self.data["beats"].pop(str(monitor_id), None)
            self.save()

    def set_active(self, monitor_id: int, active: bool) -> Row:
        return self.edit_monitor(monitor_id, {"active": active})

    # --- heartbeats -------------------------------------------------------------------------------------------
    def add_beat(self, monitor_id: int, status: int, msg: str, ping: float | None, cert: Row | None = None) -> Row:
        beat = {"status": status, "time": now_text(), "msg": msg, "ping": ping}
        with self.lock:
            beats = self.data["beats"].setdefault(str(monitor_id), [])
            beats.append(beat | ({"cert": cert} if cert else {}))
            del beats[:-KEEP_BEATS]
            self.save()
            monitor = dict(self.monitor(monitor_id))
        for listener in self.listeners:
            listener(monitor, beat)
        return beat

    def beats(self, monitor_id: int) -> list[Row]:
        with self.lock:
            return list(self.data["beats"].get(str(monitor_id), []))

    def last_beat(self, monitor_id: int) -> Row | None:
        beats = self.beats(monitor_id)
        return beats[-1] if beats else None

    # --- status pages -----------------------------------------------------------------------------------------
    def add_status_page(self, fields: Row) -> Row:
        with self.lock:
            page = PAGE_DEFAULTS | fields | {"id": len(self.data["status_pages"]) + 1}
            self.data["status_pages"].append(page)
            self.save()
            return page

    def status_page(self, slug: str) -> Row | None:
        return next((p for p in self.data["status_pages"] if p["slug"] == slug.lower()), None)
