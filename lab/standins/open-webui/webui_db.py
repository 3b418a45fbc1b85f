"""The stand-in's database: SQLite at DATA_DIR/webui.db, upstream's default DATABASE_URL, so /health/db pings a file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


class Database:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "webui.db"

    def create(self) -> None:
        """Create DATA_DIR and the file with upstream's `config` table (the stand-in keeps nothing else)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path)) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS config (id INTEGER PRIMARY KEY, data JSON NOT NULL, "
                       "version INTEGER NOT NULL, created_at DATETIME, updated_at DATETIME)")

    def ping(self) -> bool:
        """`SELECT 1;` on the existing file, as upstream's /health/db does."""
        if not self.path.is_file():
            return False
        try:
            with closing(sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, timeout=2)) as db:
                return db.execute("SELECT 1;").fetchall() == [(1,)]
        except sqlite3.Error:
            return False
