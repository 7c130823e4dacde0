-- tenant_limit_rejections_total{tenant, limit, scope}: shared by every worker, and
-- removed with the tenant (so a purged tenant's series disappear).
CREATE TABLE limit_rejections (
    tenant_id  TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    limit_name TEXT NOT NULL,
    scope      TEXT NOT NULL CHECK (scope IN ('tenant', 'global')),
    count      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, limit_name, scope)
);
