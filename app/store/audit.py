"""The audit log: one entry per change of tenant state, in the transaction of the change.

An entry names the action, the tenant, the config fields that changed (names only: a
tenant's ``extra`` may hold credentials) and the actor: ``cli``, ``server`` or
``key:<first 8 hex of sha256(key)>``. The actor is checked against that shape before
anything is written, so no code path can store a key by mistake. Entries older than
AUDIT_RETENTION_DAYS are never answered, and appends remove them a bounded batch at a
time: no thread of its own, and the log stays bounded whoever writes. Once a batch comes
up short, nothing more can expire before the oldest entry kept: appends until then
skip the removal (PRUNE_SLACK later, so that expired entries go in batches, not one by
one on every append).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from .database import SQLiteDatabase

CLI_ACTOR = "cli"
SERVER_ACTOR = "server"  # the server registering DEFAULT_TENANT at start
ACTOR = re.compile(r"^(cli|server|key:[0-9a-f]{8})$")
ACTIONS = ("create", "update", "disable", "purge", "recheck", "readiness_override")
MAX_PAGE = 1000
PRUNE_BATCH = 100  # expired entries removed per append: bounded work inside a write
# How long after it expires an entry may stay stored (never answered meanwhile): expired
# entries are removed once per this much time, not by every append.
PRUNE_SLACK = timedelta(hours=1)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    action: str
    tenant: str
    fields: list[str]
    actor: str

    def as_dict(self) -> dict:
        return {"id": self.id, "at": self.at, "action": self.action, "tenant": self.tenant,
                "fields": list(self.fields), "actor": self.actor}


def _stamp(moment: datetime) -> str:
    # The store's timestamp format (app/store/tenants.py utc_now), so strings compare as times.
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    def __init__(self, db: SQLiteDatabase, retention_days: int = 90,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.db = db
        self._days = retention_days
        self._retention = timedelta(days=retention_days)
        self._clock = clock
        # Until when appends need not look for expired entries (None: look now). Set only
        # once the removal that found the log clear has committed.
        self._clear_until: datetime | None = None

    def record(self, action: str, tenant_id: str, fields: list[str], actor: str) -> None:
        """Append an entry; inside a caller's write it joins that transaction."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        if not isinstance(actor, str) or not ACTOR.fullmatch(actor):
            raise ValueError("an audit actor is cli, server or key:<8 hex digits>")
        now = self._clock()
        # No savepoint of its own inside a caller's write: a prune done before a failed
        # append removed expired entries only, which nothing answers any more.
        with self.db.write(savepoint=False) as conn:
            if self._days and (self._clear_until is None or now >= self._clear_until):
                self._prune(conn, now)
            conn.execute("INSERT INTO audit_log (at, action, tenant_id, fields_json, actor) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (_stamp(now), action, tenant_id, json.dumps(sorted(fields)), actor))

    def entries(self, tenant_id: str | None = None, limit: int = 100,
                before: int | None = None) -> list[AuditEntry]:
        """Newest first: at most ``limit`` entries (of one tenant), with ids below ``before``."""
        if not 1 <= limit <= MAX_PAGE + 1:  # one more than a page: is there a next one?
            raise ValueError(f"limit must be 1 to {MAX_PAGE + 1}")
        sql = "SELECT entry_id, at, action, tenant_id, fields_json, actor FROM audit_log " \
              "WHERE at >= ?"
        params: list = [self._cutoff(self._clock()) if self._days else ""]
        if tenant_id is not None:
            sql += " AND tenant_id = ?"
            params.append(tenant_id)
        if before is not None:
            sql += " AND entry_id < ?"
            params.append(before)
        with self.db.read() as conn:
            rows = conn.execute(sql + " ORDER BY entry_id DESC LIMIT ?",
                                (*params, limit)).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    def _prune(self, conn, now: datetime) -> None:
        # In the order of the index on ``at``: ordered by entry_id, SQLite walks the whole
        # log for the few (usually no) expired entries, inside the write lock.
        removed = conn.execute(
            "DELETE FROM audit_log WHERE entry_id IN (SELECT entry_id FROM audit_log "
            "WHERE at < ? ORDER BY at, entry_id LIMIT ?)", (self._cutoff(now), PRUNE_BATCH))
        if removed.rowcount >= PRUNE_BATCH:
            return  # maybe more: the next append looks again
        oldest = conn.execute("SELECT min(at) FROM audit_log").fetchone()[0]
        kept_from = now if oldest is None else \
            min(now, datetime.fromisoformat(oldest.replace("Z", "+00:00")))
        clear_until = kept_from + self._retention + PRUNE_SLACK

        def clear() -> None:
            self._clear_until = clear_until
        # Rolled back, the removal did not happen: appends keep looking.
        self.db.units.on_commit(clear)

    def _cutoff(self, now: datetime) -> str:
        return _stamp(now - timedelta(days=self._days))
