-- Fleet-wide rechecks (contract sec. 12): when a tenant's validators next run, claimed by
-- one worker of one host with a conditional update, and the failures in a row (backoff).
-- Seconds since the epoch: every host compares the same clock-free numbers.
ALTER TABLE tenants ADD COLUMN recheck_due_at REAL;
ALTER TABLE tenants ADD COLUMN recheck_failures INTEGER NOT NULL DEFAULT 0;
