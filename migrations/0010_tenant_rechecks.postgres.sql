-- Fleet-wide rechecks (contract sec. 12): when a tenant's validators next run, claimed by
-- one worker of one host with a conditional update, and the failures in a row (backoff).
-- DOUBLE PRECISION: PostgreSQL's REAL would round seconds since the epoch to minutes.
ALTER TABLE tenants ADD COLUMN recheck_due_at DOUBLE PRECISION;
ALTER TABLE tenants ADD COLUMN recheck_failures INTEGER NOT NULL DEFAULT 0;
