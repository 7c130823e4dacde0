"""Store concern: the tenant store, the single source of truth shared by every worker."""
from __future__ import annotations

import sqlite3
import time

from ..settings import Settings, SettingsError
from .audit import AuditEntry, AuditLog
from .budgets import Admission, BudgetState, BudgetStore
from .data_version import DataVersion
from .database import SQLiteDatabase
from .errors import StoreUnavailable
from .group_commit import GroupCommit
from .health import HealthRecord, HealthStore
from .job_leases import Claim, JobLeases
from .jobs import JobRecord, JobStore, TenantMissing
from .limits import LimitStore
from .migrations import migrate
from .rechecks import RecheckStore
from .tenant_readiness import TenantReadinessStore
from .tenants import DirectoryTaken, HostTaken, LabelCapReached, TenantRecord, TenantStore
from .uploads import QuotaExceeded, UploadRecord, UploadRecords

__all__ = ["Store", "Admission", "AuditEntry", "AuditLog", "BudgetState", "BudgetStore",
           "Claim", "JobRecord", "TenantMissing", "HealthRecord", "DirectoryTaken",
           "StoreUnavailable", "HostTaken",
           "LabelCapReached", "QuotaExceeded", "RecheckStore", "TenantRecord", "TenantStore",
           "UploadRecord", "UploadRecords", "open_store"]


WRITE_PROBE_SECONDS = 5.0
VERSION_READ_SECONDS = 1.0


class Store:
    """The store's parts, opened together."""

    def __init__(self, db: SQLiteDatabase, clock=time.monotonic, audit_retention_days: int = 90):
        self.db = db
        self._clock = clock
        self._probed_at: float | None = None
        self._write_error: str | None = None
        self._stored_version = 0
        self._version_read_at: float | None = None
        self._labelled: tuple[tuple, list[TenantRecord]] | None = None
        self.tenants = TenantStore(db)
        self.tenant_readiness = TenantReadinessStore(db)
        self.health = HealthStore(db)
        self.limits = LimitStore(db)
        self.uploads = UploadRecords(db)
        self.budgets = BudgetStore(db)
        self.rechecks = RecheckStore(db)
        self.jobs = JobStore(db)
        self.job_leases = JobLeases(db, self.jobs)
        self.audit = AuditLog(db, audit_retention_days)
        # PostgreSQL has none: other hosts commit without this host seeing a file change.
        self._data_version = DataVersion(db.path) if db.dialect == "sqlite" else None
        # Concurrent small writes (set_ready) share a commit; SQLite only, where a commit
        # is a turn at one file's lock and an fsync (app/store/group_commit.py).
        self.group_commit = GroupCommit(db, share=db.dialect == "sqlite")

    def change_token(self) -> tuple[int, int]:
        """A token that changes with every change of tenant state, asked at every tenant
        request: with SQLite, the change hint (a memory read), and the stored version read
        again at most every VERSION_READ_SECONDS, in case a writer died between its commit
        and the hint's bump; with PostgreSQL, the stored version, every time."""
        hint = getattr(self.db, "hint", None)
        if hint is None:
            return 0, self.version()
        now = self._clock()
        if self._version_read_at is None or now - self._version_read_at >= VERSION_READ_SECONDS:
            self._stored_version = self.version()
            self._version_read_at = now
        return hint.read(), self._stored_version

    def labelled_tenants(self, limit: int) -> list[TenantRecord]:
        """``tenants.first(limit)``, the tenants metrics may label, read again only when
        tenant state changed: every scrape-time collector asks for them at every scrape.
        What changes without moving config_version (health_checked_at) may be stale here."""
        token = self.change_token()
        cached = self._labelled
        if cached is not None and cached[0] == (token, limit):
            return cached[1]
        # The token read before the rows: a change committed in between is read again.
        records = self.tenants.first(limit)
        self._labelled = ((token, limit), records)
        return records

    def data_version(self) -> tuple | None:
        """A value that stays equal while nothing at all was committed to the store, by any
        worker, and moves with every commit (SQLite's data_version); None when the backend
        cannot tell (PostgreSQL). With the change token: what a scrape keeps its store
        series by (app/metrics/store_families.py)."""
        if self._data_version is None:
            return None
        return self._data_version.read(), self.change_token()

    def version(self) -> int:
        """config_version itself: rises with every commit that changes tenant state."""
        with self.db.read() as conn:
            return conn.execute(
                "SELECT value FROM store_meta WHERE key = 'config_version'").fetchone()[0]

    def ping(self) -> None:
        """Readiness check: the store answers a read, and takes a write.

        A store that reads but refuses writes (read-only, disk full) cannot serve the
        admin API or set_ready, so it is reported, not hidden. The write probe (a
        no-op update that never waits on other writers: busy is not broken) runs at
        most every WRITE_PROBE_SECONDS per process, and on every check while failing,
        so readiness returns as soon as writes do.
        """
        self.version()
        self.check_writes()

    def check_writes(self) -> None:
        """The write half of ``ping``, for a caller whose own store read just succeeded
        (tenant readiness, after reading the tenant's row): the read half would only
        repeat it."""
        now = self._clock()
        if self._write_error is None and self._probed_at is not None \
                and not getattr(self.db, "write_refused", False) \
                and now - self._probed_at < WRITE_PROBE_SECONDS:
            return
        self._probed_at = now
        self._write_error = self.db.probe_write()
        if self._write_error:
            raise StoreUnavailable(f"writes refused: {self._write_error}")

    def close(self) -> None:
        if self._data_version is not None:
            self._data_version.close()
        self.db.close()


def open_store(settings: Settings) -> Store:
    """Open the store and bring its schema up to date; a bad path is a SettingsError.

    TENANT_DB_URL selects PostgreSQL (shared by several hosts); unset, SQLite.
    """
    if settings.db_url:
        from .postgres import PostgresDatabase

        db, name, where = PostgresDatabase(settings.db_url), "TENANT_DB_URL", "PostgreSQL"
    else:
        db, name, where = SQLiteDatabase(settings.db_path), "TENANT_DB_PATH", settings.db_path
    try:
        db.open()
        migrate(db)
    except (OSError, StoreUnavailable, sqlite3.DatabaseError, RuntimeError, ValueError) as exc:
        # RuntimeError/ValueError: a store newer than this code, or a broken migration file.
        db.close()
        raise SettingsError(name, f"cannot open {where}: {exc}") from exc
    return Store(db, audit_retention_days=settings.audit_retention_days)
