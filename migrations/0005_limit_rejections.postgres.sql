-- PostgreSQL variant of 0005_limit_rejections.sql: identical but for BIGINT, because
-- INTEGER is 32-bit in PostgreSQL, 64-bit in SQLite (a refusal flood would overflow).
-- tenant_limit_rejections_total{tenant, limit, scope}: shared by every worker, and
-- removed with the tenant (so a purged tenant's series disappear).
CREATE TABLE limit_rejections (
    tenant_id  TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    limit_name TEXT NOT NULL,
    scope      TEXT NOT NULL CHECK (scope IN ('tenant', 'global')),
    count      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, limit_name, scope)
);
