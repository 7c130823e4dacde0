-- PostgreSQL variant of 0006_uploads.sql: identical but for BIGINT sizes, because
-- INTEGER is 32-bit in PostgreSQL (a file over 2 GiB, a quota sum over 2 GiB).
-- Tenant uploads (contract sec. 5 and 17): one row per stored file, shared by every
-- worker, so quotas are exact and any worker can answer for any upload. A row is
-- written ('receiving', holding its share of the quota) before the file, and becomes
-- 'queued' when the file is safely on disk: only then is the upload acknowledged.
ALTER TABLE tenants ADD COLUMN quota_json TEXT NOT NULL DEFAULT '{}';

CREATE TABLE uploads (
    tenant_id  TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    upload_id  TEXT NOT NULL,
    filename   TEXT NOT NULL,
    size       BIGINT NOT NULL,
    state      TEXT NOT NULL
        CHECK (state IN ('receiving', 'queued', 'processing', 'done', 'failed')),
    sha256     TEXT,
    error      TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, upload_id)
);
CREATE INDEX uploads_by_age ON uploads (created_at);
