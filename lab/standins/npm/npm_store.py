"""State of the NPM stand-in (users, proxy hosts, certificates, access lists): one JSON file, NPM's row shapes."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Row = dict[str, Any]
TABLES = ("users", "proxy_hosts", "certificates", "access_lists")


class ApiError(Exception):
    """An error NPM reports as `{"error": {"code": status, "message": message}}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def not_found(item: object) -> ApiError:
    return ApiError(404, f"Item Not Found - {item}")


def timestamp() -> str:
    """NPM 2.12 (SQLite) dates: `YYYY-MM-DD HH:MM:SS`, UTC."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def hash_password(password: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 100_000).hex()
    return f"pbkdf2${salt}${digest}"


def password_ok(stored: str, password: str) -> bool:
    salt = stored.split("$")[1]
    return secrets.compare_digest(hash_password(password, salt), stored)


class Store:
    """Rows by table; every write goes to disk before the API answers."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "standin-database.json"
        self.lock = threading.RLock()
        if self.path.exists():
            self.data: dict[str, Any] = json.loads(self.path.read_text())
        else:
            self.data = {table: [] for table in TABLES} | {"next_id": dict.fromkeys(TABLES, 1), "secrets": {}}

    def save(self) -> None:
        with self.lock:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
            os.replace(tmp, self.path)

    def rows(self, table: str) -> list[Row]:
        return list(self.data[table])

    def get(self, table: str, row_id: int) -> Row:
        rows: list[Row] = self.data[table]
        for row in rows:
            if row["id"] == row_id:
                return row
        raise not_found(row_id)

    def insert(self, table: str, fields: Row) -> Row:
        with self.lock:
            row_id = self.data["next_id"][table]
            self.data["next_id"][table] = row_id + 1
            now = timestamp()
            row = {"id": row_id, "created_on": now, "modified_on": now} | fields
            self.data[table].append(row)
            self.save()
            return row

    def child(self, counter: str, fields: Row) -> Row:
        """A row of a child table kept inside its parent (an access list's users and clients), with its own id
        sequence as NPM's access_list_auth and access_list_client tables have; saved with the parent."""
        with self.lock:
            row_id = self.data["next_id"].get(counter, 1)
            self.data["next_id"][counter] = row_id + 1
            now = timestamp()
            return {"id": row_id, "created_on": now, "modified_on": now} | fields

    def update(self, table: str, row_id: int, fields: Row) -> Row:
        with self.lock:
            row = self.get(table, row_id)
            row.update(fields)
            row["modified_on"] = timestamp()
            self.save()
            return row

    def delete(self, table: str, row_id: int) -> Row:
        with self.lock:
            row = self.get(table, row_id)
            self.data[table].remove(row)
            self.save()
            return row

    # --- users ------------------------------------------------------------------------------------------------
    def add_user(self, email: str, password: str, name: str = "Administrator") -> Row:
        avatar = "//www.gravatar.com/avatar/" + hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()
        user = self.insert("users", {"is_disabled": False, "email": email.lower(), "name": name,
                                     "nickname": name.split()[0] if name else "Admin",
                                     "avatar": avatar + "?default=mm", "roles": ["admin"]})
        self.set_password(user["id"], password)
        return user

    def set_password(self, user_id: int, password: str) -> None:
        with self.lock:
            self.data["secrets"][str(user_id)] = hash_password(password)
            self.save()

    def user_by_login(self, email: str, password: str) -> Row | None:
        users: list[Row] = self.data["users"]
        for user in users:
            stored = self.data["secrets"].get(str(user["id"]))
            if user["email"] == email.lower() and stored and password_ok(stored, password) and not user["is_disabled"]:
                return user
        return None
