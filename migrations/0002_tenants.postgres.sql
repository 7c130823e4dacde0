-- PostgreSQL variant of 0002_tenants.sql: identical but for COLLATE "C" on tenant_id,
-- so tenants sort by bytes as in SQLite whatever the locale of the database (a glibc
-- en_US locale ignores the hyphen and would put "ab" before "a-z").
-- The system of record for tenants.
CREATE TABLE tenants (
    tenant_id   TEXT COLLATE "C" PRIMARY KEY,
    data_dir    TEXT NOT NULL,
    uploads_dir TEXT NOT NULL,
    enabled     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    extra_json  TEXT NOT NULL DEFAULT '{}',
    hosts_json  TEXT NOT NULL DEFAULT '[]',
    limits_json TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL
);

-- Host names served by a tenant; a host belongs to at most one tenant.
CREATE TABLE tenant_hosts (
    host      TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE
);
CREATE INDEX tenant_hosts_by_tenant ON tenant_hosts (tenant_id);
