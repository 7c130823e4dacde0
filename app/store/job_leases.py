"""Claiming a job under a lease, renewing it, and recording how the job ended.

A claim is one write transaction: the least recently served queue with a claimable job
(app/store/jobs.py, the round-robin), its next job, taken with a fresh lease token. On
PostgreSQL the row is read ``FOR UPDATE SKIP LOCKED``, so a claim never waits on a row
another host is claiming; on SQLite the transaction is ``BEGIN IMMEDIATE`` and the update
is conditional on the state read. Every later write names the lease token: a holder whose
lease expired and was taken over finds its token gone, and its outcome is not recorded
twice.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .database import SQLiteDatabase
from .jobs import CLAIMABLE, JobStore

# Queues looked at per claim: the first may have lost its job to another claimer meanwhile.
CLAIM_CANDIDATES = 8
# The holder died this many times over: the job is failed, not handed out for ever.
LEASE_LOST = "LeaseExpired"


@dataclass(frozen=True)
class Claim:
    job_id: str
    tenant_id: str
    workspace: str
    kind: str
    payload: Any
    attempts: int  # this try included
    token: str
    # What ``admit`` returned for it: the permit the job runs under, held from the claim.
    permit: Any = field(default=None, compare=False)


# Called with (tenant, kind, job id) inside the claim: a held permit for the job, or None when none
# is free now (the queue then goes to the back of the round, its job untouched).
Admit = Callable[[str, str], Any]


class JobLeases:
    def __init__(self, db: SQLiteDatabase, jobs: JobStore):
        self.db = db
        self._jobs = jobs
        self._lock_rows = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgres" else ""
        # PostgreSQL claims do not take the store's write lock: the tenant's row is locked
        # (shared) first, so a purge deleting it meanwhile is waited for or skipped, never
        # met half-way (a purge's cascade and a claim locking rows in opposite orders).
        self._lock_tenant = ("SELECT 1 FROM tenants WHERE tenant_id = ? "
                             "FOR KEY SHARE SKIP LOCKED") if db.dialect == "postgres" else None

    def claim(self, kinds: Iterable[str], owner: str, now: float, lease_seconds: float,
              max_attempts: int, admit: Admit | None = None) -> Claim | None:
        """The next job to run, now leased to ``owner`` until ``now + lease_seconds``.

        A job is claimed only once ``admit`` gave it a permit, so a job whose tenant's
        limit is full is never seen 'processing' and never uses up a try; and a refused
        queue goes to the back of the round, so it holds up no other tenant."""
        kinds = list(kinds)
        with self.db.write(serialise=False) as conn:
            for tenant_id, kind in self._jobs.candidates(kinds, now, CLAIM_CANDIDATES):
                if self._lock_tenant and conn.execute(self._lock_tenant,
                                                      (tenant_id,)).fetchone() is None:
                    continue
                row = conn.execute(
                    "SELECT j.job_id, j.workspace, j.payload_json, j.attempts, j.state "
                    f"FROM jobs j WHERE j.tenant_id = ? AND j.kind = ? AND {CLAIMABLE} "
                    f"ORDER BY j.run_after, j.submitted_at LIMIT 1{self._lock_rows}",
                    (tenant_id, kind, now, now)).fetchone()
                if row is None:
                    continue
                if row[4] == "processing" and row[3] >= max_attempts:
                    self._end(conn, row[0], tenant_id, kind, "failed", None, LEASE_LOST, now)
                    continue
                permit = admit(tenant_id, kind, row[0]) if admit is not None else None
                if admit is not None and permit is None:
                    self._served(conn, tenant_id, kind, now)
                    continue
                token = uuid.uuid4().hex
                conn.execute(
                    "UPDATE jobs SET state = 'processing', attempts = attempts + 1, "
                    "lease_owner = ?, lease_token = ?, lease_expires = ?, started_at = ? "
                    "WHERE job_id = ?", (owner, token, now + lease_seconds, now, row[0]))
                self._served(conn, tenant_id, kind, now)
                return Claim(row[0], tenant_id, row[1], kind, json.loads(row[2]), row[3] + 1,
                             token, permit)
        return None

    def renew(self, tokens: Iterable[str], until: float) -> int:
        """Extend the leases still held under these tokens; how many were."""
        tokens = list(tokens)
        if not tokens:
            return 0
        marks = ",".join("?" * len(tokens))
        with self.db.write(serialise=False) as conn:
            return conn.execute(
                f"UPDATE jobs SET lease_expires = ? WHERE state = 'processing' "
                f"AND lease_token IN ({marks})", (until, *tokens)).rowcount

    def finish(self, claim: Claim, result: Any, now: float) -> bool:
        """The job is done with ``result``; False when the lease was lost (or the job gone)."""
        with self.db.write(serialise=False) as conn:
            if not self._held(conn, claim):
                return False
            self._end(conn, claim.job_id, claim.tenant_id, claim.kind, "done",
                      json.dumps(result), None, now)
            return True

    def fail(self, claim: Claim, error: str, now: float) -> bool:
        with self.db.write(serialise=False) as conn:
            if not self._held(conn, claim):
                return False
            self._end(conn, claim.job_id, claim.tenant_id, claim.kind, "failed", None, error,
                      now)
            return True

    def retry(self, claim: Claim, error: str, now: float, delay: float,
              max_attempts: int) -> str | None:
        """A try failed: queue the job again after ``delay``, or fail it when it has had
        ``max_attempts``. Returns the new state (None: the lease was lost)."""
        if claim.attempts >= max_attempts:
            return "failed" if self.fail(claim, error, now) else None
        with self.db.write(serialise=False) as conn:
            moved = conn.execute(
                "UPDATE jobs SET state = 'queued', run_after = ?, error = ?, lease_owner = NULL, "
                "lease_token = NULL, lease_expires = NULL WHERE job_id = ? AND lease_token = ? "
                "AND state = 'processing'",
                (now + delay, error, claim.job_id, claim.token)).rowcount
        return "queued" if moved else None

    def release(self, claim: Claim, now: float, delay: float) -> bool:
        """Give the job back untried (no permit free, tenant not servable here): the try
        does not count, and the job is due again after ``delay``."""
        with self.db.write(serialise=False) as conn:
            return conn.execute(
                "UPDATE jobs SET state = 'queued', attempts = attempts - 1, run_after = ?, "
                "lease_owner = NULL, lease_token = NULL, lease_expires = NULL "
                "WHERE job_id = ? AND lease_token = ? AND state = 'processing'",
                (now + delay, claim.job_id, claim.token)).rowcount > 0

    @staticmethod
    def _held(conn, claim: Claim) -> bool:
        row = conn.execute("SELECT 1 FROM jobs WHERE job_id = ? AND lease_token = ? "
                           "AND state = 'processing'", (claim.job_id, claim.token)).fetchone()
        return row is not None

    @staticmethod
    def _served(conn, tenant_id: str, kind: str, now: float) -> None:
        # The tenant goes to the back of the round, and so does this queue of its kinds.
        conn.execute("UPDATE job_queues SET tenant_served_at = ? WHERE tenant_id = ?",
                     (now, tenant_id))
        conn.execute("UPDATE job_queues SET served_at = ? WHERE tenant_id = ? AND kind = ?",
                     (now, tenant_id, kind))

    @staticmethod
    def _end(conn, job_id: str, tenant_id: str, kind: str, state: str,
             result_json: str | None, error: str | None, now: float) -> None:
        conn.execute(
            "UPDATE jobs SET state = ?, result_json = ?, error = ?, finished_at = ?, "
            "lease_owner = NULL, lease_token = NULL, lease_expires = NULL WHERE job_id = ?",
            (state, result_json, error, now, job_id))
        if state == "failed":
            conn.execute("UPDATE job_queues SET failed_total = failed_total + 1 "
                         "WHERE tenant_id = ? AND kind = ?", (tenant_id, kind))
