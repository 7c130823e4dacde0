-- PostgreSQL variant of 0003_tenant_readiness.sql: identical but for DOUBLE PRECISION,
-- because REAL is a 4-byte float in PostgreSQL (8 bytes in SQLite): sums would drift
-- and a bucket count would stop rising at 2^24.
-- Tenant readiness (contract sec. 4): the set_ready override and the effective status
-- last observed, so every worker answers the same and transitions are counted once.
ALTER TABLE tenants ADD COLUMN ready_override INTEGER;  -- NULL: none, 1: ready, 0: not ready
ALTER TABLE tenants ADD COLUMN readiness_status TEXT;   -- NULL until first observed
ALTER TABLE tenants ADD COLUMN readiness_transitions INTEGER NOT NULL DEFAULT 0;

-- tenant_readiness_check_duration_seconds, when enabled: per-bucket observation counts
-- (not cumulative) and the running sum, shared by every worker.
CREATE TABLE tenant_readiness_durations (
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    bucket    INTEGER NOT NULL,  -- index into the bucket bounds; -1 holds the sum
    value     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, bucket)
);
