-- Tenant health state machine (contract sec. 5), shared by every worker.
ALTER TABLE tenants ADD COLUMN health TEXT NOT NULL DEFAULT 'pending'
    CHECK (health IN ('pending', 'healthy', 'unverified', 'disabled'));
ALTER TABLE tenants ADD COLUMN health_reason TEXT;
ALTER TABLE tenants ADD COLUMN health_checked_at TEXT;
