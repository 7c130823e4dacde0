"""pytest fixtures for PostgreSQL: one throwaway server per session, a database per test.

Without the PostgreSQL binaries the PostgreSQL tests are skipped with a clear
message on a developer machine, and fail under CI (CI=true), which installs them.
"""
from __future__ import annotations

import os
from typing import Iterator

import pytest

from .postgres import PostgresServer, pg_bin_dir

MISSING = ("PostgreSQL binaries not found (/usr/lib/postgresql/*/bin): PostgreSQL tests "
           "skipped. Install the Debian package 'postgresql' to run them; CI does.")


def throwaway_postgres() -> Iterator[PostgresServer]:
    """Start a PostgreSQL server of its own; skip (or, under CI, fail) without binaries."""
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    server = PostgresServer(bin_dir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def postgres_server():
    yield from throwaway_postgres()


@pytest.fixture
def postgres_url(postgres_server):
    return postgres_server.create_database()
