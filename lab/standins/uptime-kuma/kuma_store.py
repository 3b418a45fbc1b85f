"""State of the Uptime Kuma stand-in: users, monitors, heartbeats, tags, Docker hosts, status pages, persisted
as one JSON file.

The Socket.IO events (kuma_events.py) and the HTTP routes share these methods: a monitor added over Socket.IO
is the one the checker runs and /metrics shows; `listeners` hear every heartbeat (Kuma's `heartbeat` event).

Longer than 300 lines because every kind of state lives in the one JSON file upstream's SQLite stands for, and its
writes must stay under one lock.
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
MONITOR_TYPES = ("http", "port", "push", "dns", "keyword", "docker")
PAGE_DEFAULTS: Row = {"description": None, "icon": "/icon.svg", "theme": "auto", "published": True,
                      "showTags": False, "customCSS": "body {\n  \n}\n", "footerText": None, "showPoweredBy": True,
                      "googleAnalyticsId": None, "showCertificateExpiry": False, "groups": []}


def now_text() -> str:
    """Heartbeat times as 1.23 writes them: `YYYY-MM-DD HH:MM:SS.mmm` (UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")


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
        for key in ("tags", "monitor_tags", "docker_hosts", "api_keys"):  # absent from older state files
            self.data.setdefault(key, [])
        self.data.setdefault("settings", {})

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

    def user(self, username: str) -> Row | None:
        return next((dict(u) for u in self.data["users"] if u["username"] == username), None)

    def secret(self) -> str:
        """The key that signs login tokens (Kuma's jwtSecret), made once."""
        with self.lock:
            if "jwt_secret" not in self.data:
                self.data["jwt_secret"] = secrets.token_hex(32)
                self.save()
            return str(self.data["jwt_secret"])

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
        monitors: list[Row] = self.data["monitors"]
        for monitor in monitors:
            if monitor["id"] == monitor_id:
                return monitor
        raise KeyError(f"Monitor {monitor_id} not found")

    def add_monitor(self, fields: Row) -> Row:
        if fields.get("type", "http") not in MONITOR_TYPES:
            raise ValueError(f"stand-in: monitor type {fields.get('type')!r} is not implemented "
                             f"(only {', '.join(MONITOR_TYPES)})")
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
            self.data["monitor_tags"] = [t for t in self.data["monitor_tags"] if t["monitor_id"] != monitor_id]
            self.save()

    def set_active(self, monitor_id: int, active: bool) -> Row:
        return self.edit_monitor(monitor_id, {"active": active})

    # --- heartbeats -------------------------------------------------------------------------------------------
    def add_beat(self, monitor_id: int, status: int, msg: str, ping: float | None, cert: Row | None = None) -> Row:
        """A heartbeat; `important` when the status changed (Kuma's event list), `duration` since the last one."""
        beat: Row = {"status": status, "time": now_text(), "msg": msg, "ping": ping}
        with self.lock:
            beats = self.data["beats"].setdefault(str(monitor_id), [])
            previous = beats[-1] if beats else None
            beat["important"] = previous is None or previous["status"] != status
            beat["duration"] = round((_parse_time(beat["time"]) - _parse_time(previous["time"])).total_seconds()) \
                if previous else 0
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

    # --- tags and Docker hosts (Kuma's tag, monitor_tag and docker_host tables) ------------------------------
    def _next(self, table: str) -> int:
        return max((row["id"] for row in self.data[table]), default=0) + 1

    def tags(self) -> list[Row]:
        with self.lock:
            return [dict(t) for t in self.data["tags"]]

    def add_tag(self, name: str | None, color: str | None) -> Row:
        with self.lock:
            tag = {"id": self._next("tags"), "name": name, "color": color}
            self.data["tags"].append(tag)
            self.save()
            return dict(tag)

    def edit_tag(self, tag_id: int, name: str | None, color: str | None) -> Row | None:
        with self.lock:
            tag = next((t for t in self.data["tags"] if t["id"] == tag_id), None)
            if tag is not None:
                tag.update(name=name, color=color)
                self.save()
            return dict(tag) if tag else None

    def delete_tag(self, tag_id: int) -> None:
        with self.lock:
            self.data["tags"] = [t for t in self.data["tags"] if t["id"] != tag_id]
            self.data["monitor_tags"] = [t for t in self.data["monitor_tags"] if t["tag_id"] != tag_id]
            self.save()

    def set_monitor_tag(self, tag_id: int, monitor_id: int, value: str, *, add: bool = False,
                        remove: bool = False) -> None:
        """addMonitorTag (add), editMonitorTag (neither: sets the value), deleteMonitorTag (remove, by value)."""
        with self.lock:
            rows = self.data["monitor_tags"]
            if add:
                rows.append({"id": self._next("monitor_tags"), "monitor_id": monitor_id, "tag_id": tag_id,
                             "value": value})
            elif remove:
                self.data["monitor_tags"] = [r for r in rows if (r["tag_id"], r["monitor_id"], r["value"])
                                             != (tag_id, monitor_id, value)]
            else:
                for row in rows:
                    if (row["tag_id"], row["monitor_id"]) == (tag_id, monitor_id):
                        row["value"] = value
            self.save()

    def monitor_tags(self, monitor_id: int) -> list[Row]:
        """As Kuma's getTags(): the monitor_tag rows with the tag's name and color, by tag name."""
        with self.lock:
            tags = {t["id"]: t for t in self.data["tags"]}
            rows = [r | {"name": tags[r["tag_id"]]["name"], "color": tags[r["tag_id"]]["color"]}
                    for r in self.data["monitor_tags"] if r["monitor_id"] == monitor_id and r["tag_id"] in tags]
        return sorted(rows, key=lambda r: str(r["name"]))

    def docker_hosts(self) -> list[Row]:
        with self.lock:
            return [dict(h) for h in self.data["docker_hosts"]]

    def save_docker_host(self, fields: Row, host_id: int | None) -> Row:
        with self.lock:
            if host_id:
                host = next((h for h in self.data["docker_hosts"] if h["id"] == host_id), None)
                if host is None:
                    raise ValueError("docker host not found")
            else:
                host = {"id": self._next("docker_hosts")}
                self.data["docker_hosts"].append(host)
            host.update(name=fields.get("name"), dockerType=fields.get("dockerType"),
                        dockerDaemon=fields.get("dockerDaemon"))
            self.save()
            return dict(host)

    def delete_docker_host(self, host_id: int) -> None:
        with self.lock:
            if not any(h["id"] == host_id for h in self.data["docker_hosts"]):
                raise ValueError("docker host not found")
            self.data["docker_hosts"] = [h for h in self.data["docker_hosts"] if h["id"] != host_id]
            for monitor in self.data["monitors"]:
                if monitor.get("docker_host") == host_id:
                    monitor["docker_host"] = None
            self.save()

    # --- API keys and settings (server/socket-handlers/api-key-socket-handler.js, server/auth.js) --------------
    def add_api_key(self, user_id: int, name: Any, expires: Any, active: Any) -> tuple[Row, str]:
        """A new key and its clear text `uk<id>_<40 characters>`; the first one turns `apiKeysEnabled` on for good
        (Kuma never clears it, even when every key is deleted)."""
        clear = secrets.token_urlsafe(30)[:40]
        with self.lock:
            key = {"id": self._next("api_keys"), "key": hash_password(clear), "name": name, "user_id": user_id,
                   "active": 1 if active in (1, True, "1", "true") else 0, "expires": expires or None,
                   "created_date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")}
            self.data["api_keys"].append(key)
            self.data["settings"]["apiKeysEnabled"] = True
            self.save()
            return dict(key), f"uk{key['id']}_{clear}"

    def api_keys(self, user_id: int) -> list[Row]:
        """toPublicJSON of the user's keys: no hash, `status` active | inactive | expired."""
        with self.lock:
            return [{"id": k["id"], "name": k["name"], "userID": k["user_id"], "createdDate": k["created_date"],
                     "active": k["active"], "expires": k["expires"], "status": _key_status(k)}
                    for k in self.data["api_keys"] if k["user_id"] == user_id]

    def set_api_key_active(self, key_id: Any, active: bool) -> None:
        with self.lock:
            for key in self.data["api_keys"]:
                if str(key["id"]) == str(key_id):
                    key["active"] = int(active)
            self.save()

    def delete_api_key(self, key_id: Any, user_id: int) -> None:
        with self.lock:
            self.data["api_keys"] = [k for k in self.data["api_keys"]
                                     if not (str(k["id"]) == str(key_id) and k["user_id"] == user_id)]
            self.save()

    def api_keys_enabled(self) -> bool:
        return bool(self.data["settings"].get("apiKeysEnabled"))

    def check_api_key(self, presented: str) -> bool:
        """auth.js verifyAPIKey: `uk<id>_<clear>`, the key active and not expired, the clear text matching."""
        key_id, sep, clear = presented[2:].partition("_")
        if not presented.startswith("uk") or not sep:
            return False
        with self.lock:
            key = next((dict(k) for k in self.data["api_keys"] if str(k["id"]) == key_id), None)
        if key is None or _key_status(key) != "active":
            return False
        salt = key["key"].split("$")[1]
        return secrets.compare_digest(hash_password(clear, salt), key["key"])


def _key_status(key: Row) -> str:
    expires = key.get("expires")
    if expires:
        try:
            if datetime.strptime(str(expires)[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) < datetime.now(UTC):
                return "expired"
        except ValueError:
            pass  # dayjs of an unparsable date: never expired
    return "active" if key["active"] else "inactive"
