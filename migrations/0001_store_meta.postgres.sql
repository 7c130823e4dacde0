-- PostgreSQL variant of 0001_store_meta.sql: identical but for BIGINT, because
-- INTEGER is 32-bit in PostgreSQL, 64-bit in SQLite.
-- Store-wide counters. config_version rises with every write to tenant state, so
-- each worker can tell with one cheap read whether its cached views are stale.
CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO store_meta (key, value) VALUES ('config_version', 0);
INSERT INTO store_meta (key, value) VALUES ('label_rejections', 0);
