"""Tenant jobs in the store (contract sec. 13): written with the request that creates them,
read by every worker and host, and counted for the scrape.

Claiming, renewing and finishing a job (the lease) is app/store/job_leases.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from .database import SQLiteDatabase
from .id_lists import select_in

STATES = ("queued", "processing", "done", "failed")
# Jobs that are not finished yet: what tenant_jobs{state} counts.
PENDING = ("queued", "processing")


class TenantMissing(LookupError):
    """A job was submitted for a tenant the store does not have (purged meanwhile)."""

    def __init__(self, tenant_id: str):
        super().__init__(f"no tenant {tenant_id!r} in the store")
        self.tenant_id = tenant_id


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    tenant_id: str
    workspace: str
    kind: str
    payload: Any
    state: str
    attempts: int
    submitted_at: float
    run_after: float
    started_at: float | None
    finished_at: float | None
    result: Any
    error: str | None

    def public(self) -> dict[str, Any]:
        """What a status answer shows of a job."""
        body: dict[str, Any] = {"id": self.job_id, "tenant": self.tenant_id, "kind": self.kind,
                                "state": self.state, "attempts": self.attempts}
        if self.result is not None:
            body["result"] = self.result
        if self.error:
            body["error"] = self.error
        return body


# A job that may be claimed at time ``?`` (given twice): queued and due, or held under a
# lease that expired (its holder died, or stopped renewing it).
CLAIMABLE = ("((j.state = 'queued' AND j.run_after <= ?) "
             "OR (j.state = 'processing' AND j.lease_expires < ?))")

COLUMNS = ("job_id, tenant_id, workspace, kind, payload_json, state, attempts, submitted_at, "
           "run_after, started_at, finished_at, result_json, error")


def job_record(row) -> JobRecord:
    values = [row[i] for i in range(13)]
    values[4] = json.loads(values[4])
    values[11] = json.loads(values[11]) if values[11] is not None else None
    return JobRecord(*values)


class JobStore:
    def __init__(self, db: SQLiteDatabase):
        self.db = db

    def submit(self, job_id: str, tenant_id: str, workspace: str, kind: str,
               payload_json: str, now: float, on_commit=None) -> None:
        """Record a queued job. Inside the caller's write (the request's acknowledgment),
        it commits or rolls back with it; raises TenantMissing for an unknown tenant.
        ``on_commit`` runs once the job is committed (to wake this process's runners)."""
        with self.db.write() as conn:
            if on_commit is not None:
                self.db.on_commit(on_commit)
            if conn.execute("SELECT 1 FROM tenants WHERE tenant_id = ?",
                            (tenant_id,)).fetchone() is None:
                raise TenantMissing(tenant_id)
            # A new queue of a tenant joins the round where the tenant's other queues are,
            # so a second kind gives a tenant no head start over the others.
            conn.execute(
                "INSERT INTO job_queues (tenant_id, kind, tenant_served_at) "
                "SELECT ?, ?, COALESCE(MAX(tenant_served_at), 0) FROM job_queues "
                "WHERE tenant_id = ? ON CONFLICT (tenant_id, kind) DO NOTHING",
                (tenant_id, kind, tenant_id))
            conn.execute(
                f"INSERT INTO jobs ({COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?, NULL, NULL, NULL, NULL)",
                (job_id, tenant_id, workspace, kind, payload_json, now, now))

    def runnable(self, kinds: Iterable[str], now: float) -> bool:
        """Whether any job of these kinds may be claimed now: a cheap read that spares an
        idle runner a write transaction."""
        return bool(self.candidates(kinds, now, 1))

    def get(self, tenant_id: str, job_id: str) -> JobRecord | None:
        with self.db.read() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE tenant_id = ? "
                               "AND job_id = ?", (tenant_id, job_id)).fetchone()
        return job_record(row) if row else None

    def delete(self, tenant_id: str, job_id: str) -> bool:
        with self.db.write() as conn:
            return conn.execute("DELETE FROM jobs WHERE tenant_id = ? AND job_id = ?",
                                (tenant_id, job_id)).rowcount > 0

    def candidates(self, kinds: Iterable[str], now: float, limit: int) -> list[tuple[str, str]]:
        """(tenant, kind) queues with a job to claim now, the least recently served first:
        the round-robin. Operator-disabled tenants, and tenants whose build or validation
        failed, are left out: their jobs wait, untouched, until the tenant is back."""
        kinds = list(kinds)
        if not kinds:
            return []
        marks = ",".join("?" * len(kinds))
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT q.tenant_id, q.kind FROM job_queues q "
                "JOIN tenants t ON t.tenant_id = q.tenant_id "
                f"WHERE t.enabled = 1 AND t.health != 'disabled' AND q.kind IN ({marks}) "
                "AND EXISTS (SELECT 1 FROM jobs j WHERE j.tenant_id = q.tenant_id "
                f"AND j.kind = q.kind AND {CLAIMABLE}) "
                "ORDER BY q.tenant_served_at, q.served_at, q.tenant_id, q.kind LIMIT ?",
                (*kinds, now, now, limit)).fetchall()
        return [(row[0], row[1]) for row in rows]

    # -- for the scrape ------------------------------------------------------------------
    def pending_counts(self, tenant_ids: Iterable[str]) -> dict[tuple[str, str], int]:
        """{(tenant, state): jobs} for the queued and processing jobs of these tenants."""
        ids = list(tenant_ids)
        if not ids:
            return {}
        with self.db.read() as conn:
            rows = select_in(
                conn, "SELECT tenant_id, state, COUNT(*) FROM jobs "
                "WHERE state IN ('queued', 'processing') AND tenant_id IN ({marks}) "
                "GROUP BY tenant_id, state", ids)
        return {(row[0], row[1]): row[2] for row in rows}

    def failed_totals(self, tenant_ids: Iterable[str]) -> dict[str, int]:
        ids = list(tenant_ids)
        if not ids:
            return {}
        with self.db.read() as conn:
            rows = select_in(
                conn, "SELECT tenant_id, CAST(SUM(failed_total) AS BIGINT) FROM job_queues "
                "WHERE tenant_id IN ({marks}) GROUP BY tenant_id", ids)
        return {row[0]: row[1] for row in rows}

    def oldest_queued_at(self) -> float | None:
        """When the oldest queued job of an enabled tenant was submitted (None: no such job).
        A disabled tenant's jobs wait on purpose, and are not what this watches."""
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT MIN(j.submitted_at) FROM jobs j "
                "JOIN tenants t ON t.tenant_id = j.tenant_id "
                "WHERE j.state = 'queued' AND t.enabled = 1").fetchone()
        return row[0] if row else None

    def prune(self, finished_before: float, keep_kind: str, limit: int = 500) -> int:
        """Delete finished jobs older than retention; ``keep_kind`` ones (uploads, whose
        job is their status) live as long as their upload does."""
        with self.db.write(serialise=False) as conn:
            rows = conn.execute(
                "SELECT job_id FROM jobs WHERE state IN ('done', 'failed') AND kind != ? "
                "AND finished_at < ? LIMIT ?", (keep_kind, finished_before, limit)).fetchall()
            if rows:
                conn.executemany("DELETE FROM jobs WHERE job_id = ?", [(r[0],) for r in rows])
        return len(rows)
