-- PostgreSQL variant of 0009_audit_log.sql: identical but for the id, a BIGINT identity
-- (SQLite's INTEGER PRIMARY KEY AUTOINCREMENT), which only grows.
-- Declared workspaces and the audit log (contract sec. 15).
-- NULL: the tenant accepts any valid workspace id, a JSON list only those.
ALTER TABLE tenants ADD COLUMN workspaces_json TEXT;

-- One row per change of tenant state, appended in the transaction of the change. No
-- foreign key: a purged tenant's history is what the question of who purged it needs. Field names
-- only, never values (a tenant's extra may hold credentials), the actor is "cli",
-- "server" or "key:" and 8 hex digits of the key's SHA-256, never a key.
CREATE TABLE audit_log (
    entry_id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          TEXT NOT NULL,
    action      TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    fields_json TEXT NOT NULL DEFAULT '[]',
    actor       TEXT NOT NULL
);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, entry_id);
CREATE INDEX audit_log_by_time ON audit_log (at);
