"""Forward-only schema migrations: ``migrations/NNNN_name.sql``, each applied once.

The applied version is ``PRAGMA user_version``. The runner holds SQLite's write
lock (BEGIN IMMEDIATE) while it reads the version and applies what is missing,
so several gunicorn workers starting at once apply each file exactly once.
"""
from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .database import SQLiteDatabase

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    path: Path

    def statements(self) -> list[str]:
        return split_statements(self.path.read_text(encoding="utf-8"))


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migrations in {directory} must be numbered 0001, 0002, ... "
                           f"without gaps; found {versions}")
    return found


def split_statements(script: str) -> list[str]:
    """Split a script into statements (executescript would commit our transaction)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not buffer.strip().startswith("--"):
        raise ValueError(f"incomplete SQL statement at end of script: {buffer.strip()[:60]!r}")
    return statements


def migrate(db: SQLiteDatabase, directory: Path = MIGRATIONS_DIR) -> int:
    """Apply every migration newer than the store's version; returns the resulting version."""
    migrations = discover(directory)
    with db.write() as conn:
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        if current > len(migrations):
            raise RuntimeError(f"the store is at schema version {current}, newer than this "
                               f"code knows ({len(migrations)}); refusing to run")
        for migration in migrations[current:]:
            for statement in migration.statements():
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {migration.version:d}")
            log.info("applied migration %s", migration.path.name)
        return max(current, len(migrations))
