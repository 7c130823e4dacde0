-- Durable tenant jobs (contract sec. 13): every piece of background work of a tenant is
-- a row here, written in the transaction that acknowledges the request creating it, and
-- run by whichever worker of whichever host claims it first. A claim is a lease
-- (lease_owner, lease_token, lease_expires); a holder that dies stops renewing it, and
-- the job is taken over once it expires. Times are seconds since the epoch.
CREATE TABLE jobs (
    job_id        TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    workspace     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    payload_json  TEXT NOT NULL,
    state         TEXT NOT NULL
        CHECK (state IN ('queued', 'processing', 'done', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    submitted_at  REAL NOT NULL,
    run_after     REAL NOT NULL,
    started_at    REAL,
    finished_at   REAL,
    lease_owner   TEXT,
    lease_token   TEXT,
    lease_expires REAL,
    result_json   TEXT,
    error         TEXT
);
-- The next job of one tenant's queue of one kind; and expired leases, oldest first.
CREATE INDEX jobs_runnable ON jobs (tenant_id, kind, state, run_after);
CREATE INDEX jobs_by_lease ON jobs (state, lease_expires);

-- One row per tenant and kind that ever had a job: the round-robin cursor (the tenant
-- least recently served goes first, then its kind least recently served) and the
-- count of jobs that ended failed, which outlives the pruned jobs themselves.
CREATE TABLE job_queues (
    tenant_id        TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    tenant_served_at REAL NOT NULL DEFAULT 0,
    served_at        REAL NOT NULL DEFAULT 0,
    failed_total     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, kind)
);

-- Uploads acknowledged before jobs existed become upload jobs: those still queued (or
-- left 'processing' by a worker that died) are run, finished ones keep their outcome.
INSERT INTO job_queues (tenant_id, kind)
    SELECT DISTINCT tenant_id, 'upload' FROM uploads WHERE state != 'receiving';
INSERT INTO jobs (job_id, tenant_id, workspace, kind, payload_json, state, attempts,
                  submitted_at, run_after, finished_at, result_json, error)
    SELECT upload_id, tenant_id, 'main', 'upload', '{"upload_id": "' || upload_id || '"}',
           CASE WHEN state = 'processing' THEN 'queued' ELSE state END,
           CASE WHEN state IN ('done', 'failed') THEN 1 ELSE 0 END,
           (julianday('now') - 2440587.5) * 86400.0, (julianday('now') - 2440587.5) * 86400.0,
           CASE WHEN state IN ('done', 'failed') THEN (julianday('now') - 2440587.5) * 86400.0
           END,
           CASE WHEN sha256 IS NOT NULL THEN '{"sha256": "' || sha256 || '"}' END,
           error
    FROM uploads WHERE state != 'receiving';
