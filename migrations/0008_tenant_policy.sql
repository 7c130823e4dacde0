-- Tenant policy (contract sec. 14): allowed models and budgets in the tenant config, and
-- the spend they admit, shared by every worker (and host) so admission is exact. Money
-- is integer micro-dollars everywhere (1 USD = 1000000), never a float.
ALTER TABLE tenants ADD COLUMN models_json TEXT;               -- NULL: every model allowed
ALTER TABLE tenants ADD COLUMN daily_cap_micros INTEGER;       -- NULL: no daily cap
ALTER TABLE tenants ADD COLUMN max_request_micros INTEGER;     -- NULL: no per-request cap

-- Settled spend of each tenant: of its current UTC day (day_micros, for admission) and
-- ever (total_micros, tenant_spend_usd_total). One row per tenant, whatever its age.
CREATE TABLE budget_spend (
    tenant_id    TEXT PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    day          TEXT NOT NULL,     -- UTC date, YYYY-MM-DD
    day_micros   INTEGER NOT NULL,
    total_micros INTEGER NOT NULL
);

-- Reservations against a day's cap. One is held while settled = 0 and its lease
-- (expires_ms, renewed by the holder's process) has not run out; a settled row is kept
-- a day or two so that settling it again changes nothing.
CREATE TABLE budget_reservations (
    tenant_id       TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    reservation_id  TEXT NOT NULL,
    day             TEXT NOT NULL,
    estimate_micros INTEGER NOT NULL,
    expires_ms      INTEGER NOT NULL,  -- Unix time in milliseconds
    settled         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, reservation_id)
);
CREATE INDEX budget_reservations_by_day ON budget_reservations (tenant_id, day);
-- What admission adds up (the held ones) without reading the day's settled rows.
CREATE INDEX budget_reservations_held ON budget_reservations (tenant_id, day)
    WHERE settled = 0;

-- tenant_budget_rejections_total{tenant, scope}.
CREATE TABLE budget_rejections (
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    scope     TEXT NOT NULL CHECK (scope IN ('request', 'daily')),
    count     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, scope)
);

-- tenant_model_requests_total{tenant, workspace, model, outcome}; the labels are bounded
-- before they are written (app/policy/labels.py).
CREATE TABLE model_requests (
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    workspace TEXT NOT NULL,
    model     TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, workspace, model, outcome)
);
