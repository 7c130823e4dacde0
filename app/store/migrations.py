"""Forward-only schema migrations: ``migrations/NNNN_name.sql``, each applied once.

The applied version is ``PRAGMA user_version`` on SQLite and the
``schema_version`` table on PostgreSQL, where ``NNNN_name.postgres.sql`` replaces
``NNNN_name.sql`` when the dialects differ. The runner holds the store's write
lock (BEGIN IMMEDIATE; an advisory lock on PostgreSQL) while it reads the version
and applies what is missing, so several workers or hosts starting at once apply
each file exactly once.
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
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+?(\.postgres)?\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    path: Path

    def statements(self) -> list[str]:
        return split_statements(self.path.read_text(encoding="utf-8"))


def discover(directory: Path = MIGRATIONS_DIR, dialect: str = "sqlite") -> list[Migration]:
    chosen: dict[int, Path] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            continue
        version, specific = int(match.group(1)), match.group(2) is not None
        if specific and dialect != "postgres":
            continue
        if specific or version not in chosen:
            chosen[version] = path
    found = [Migration(v, p) for v, p in sorted(chosen.items())]
    versions = [m.version for m in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migrations in {directory} must be numbered 0001, 0002, ... "
                           f"without gaps; found {versions}")
    return found


def split_statements(script: str) -> list[str]:
    """Split a script into statements (executescript would commit our transaction).

    Pieces are joined at each ``;`` until SQLite calls the text a complete
    statement, so a ``;`` inside a string literal does not split it. Text left
    after the last complete statement (other than comments) is an error.
    """
    statements, buffer = [], ""
    *pieces, tail = script.split(";")
    for piece in pieces:
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if _has_sql(buffer):
                statements.append(buffer.strip())
            buffer = ""
    leftover = buffer + tail
    if _has_sql(leftover):
        raise ValueError(f"incomplete SQL statement at end of script: {leftover.strip()[:60]!r}")
    return statements


def _has_sql(text: str) -> bool:
    code = [line.split("--", 1)[0] for line in text.splitlines()]
    return bool("".join(code).strip().strip(";").strip())


def _version(dialect: str, conn) -> int:
    if dialect == "postgres":
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        return row[0] or 0
    return conn.execute("PRAGMA user_version").fetchone()[0]


def _set_version(dialect: str, conn, version: int) -> None:
    if dialect == "postgres":
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    else:
        conn.execute(f"PRAGMA user_version = {version:d}")


def migrate(db: SQLiteDatabase, directory: Path = MIGRATIONS_DIR) -> int:
    """Apply every migration newer than the store's version; returns the resulting version."""
    dialect = getattr(db, "dialect", "sqlite")
    migrations = discover(directory, dialect)
    with db.write() as conn:
        current = _version(dialect, conn)
        if current > len(migrations):
            raise RuntimeError(f"the store is at schema version {current}, newer than this "
                               f"code knows ({len(migrations)}); refusing to run")
        for migration in migrations[current:]:
            for statement in migration.statements():
                conn.execute(statement)
            _set_version(dialect, conn, migration.version)
            log.info("applied migration %s", migration.path.name)
        return max(current, len(migrations))
