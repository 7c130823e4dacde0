"""Peer: tenancy written by hand, the exporter plus one SQLite read of the tenant per request.

``GET /t/<tenant>/health`` reads the tenant's row from a tenants table (WAL, seeded
by :func:`seed` before the server starts) through a connection opened once per
thread and kept, and answers ``{"status": "ok", "tenant": ...}``, or a 404 JSON error
for an id that is not there (or is disabled). Served as ``create_app()`` so that the
benchmark can import :func:`seed` without building an app.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterable

from flask import Flask, jsonify

DB_ENV = "PEER_TENANT_DB"


def seed(path: Path, tenants: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS tenants (tenant_id TEXT PRIMARY KEY, "
                     "enabled INTEGER NOT NULL DEFAULT 1, config TEXT NOT NULL DEFAULT '{}')")
        with conn:
            conn.executemany("INSERT OR REPLACE INTO tenants (tenant_id) VALUES (?)",
                             [(tenant,) for tenant in tenants])
    finally:
        conn.close()


class TenantTable:
    """One connection per request thread, opened on its first request and kept."""

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()

    def find(self, tenant: str) -> tuple | None:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = sqlite3.connect(self.path)
        return conn.execute("SELECT tenant_id, enabled, config FROM tenants WHERE tenant_id = ?",
                            (tenant,)).fetchone()


def create_app() -> Flask:
    from .peer_metrics import instrument  # needs PROMETHEUS_MULTIPROC_DIR: server side only

    app = Flask(__name__)
    app.extensions["peer.metrics"] = instrument(app)
    tenants = TenantTable(os.environ[DB_ENV])

    @app.get("/t/<tenant>/health")
    def health(tenant: str):
        row = tenants.find(tenant)
        if row is None or not row[1]:
            return jsonify({"error": "unknown_tenant", "tenant": tenant}), 404
        return jsonify({"status": "ok", "tenant": row[0]})

    return app
