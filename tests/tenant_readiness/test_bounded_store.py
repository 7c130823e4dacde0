"""Without chaos a tenant's readiness is resolved on the request thread, its store waits
bounded by the probe's deadline (contract sec. 4, 17), on both backends.

The store's write lock is held by another process while many probes of one tenant
arrive, and that tenant's resolution needs a write (its observed status changed): its
answers are ``error timeout``, one resolution of it at a time is in flight, and other
tenants' probes and /readyz keep answering meanwhile.
"""
from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import close_app, create_app
from app.services import services_of
from app.store.postgres import WRITE_LOCK
from tests.support.polling import wait_until
from tests.tenant_readiness.helpers import BASE, readyz, set_ready

STORM_THREADS, STORM_PROBES = 8, 2
STUCK_ANSWER = (503, {"tenant": "stuck", "status": "error", "reason": "timeout"})
RECORDER = "tenant-readiness-error"
BYSTANDER_READY = (200, {"tenant": "bystander", "status": "ready", "reason": "override"})

# Holds the store's write lock until its stdin closes (or 120 s pass), from another process.
HOLDER = """
import sys, select
url = sys.argv[1]
if url.startswith("postgresql"):
    import psycopg
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SELECT pg_advisory_lock(%s)", (int(sys.argv[2]),))
else:
    import sqlite3
    conn = sqlite3.connect(url, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
select.select([sys.stdin], [], [], 120)
"""


@pytest.fixture
def extra_settings(request):
    return getattr(request, "param", {})


@pytest.fixture(params=["sqlite", "postgres"])
def app(request, tmp_path, monkeypatch, extra_settings):
    for name in ("TENANT_ADMIN_KEY", "TENANT_API_KEY", "TENANT_DB_URL",
                 "PROMETHEUS_MULTIPROC_DIR", "CHAOS_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    config = {"TESTING": True, **BASE,
              "TENANT_DB_PATH": str(tmp_path / "store" / "tenants.sqlite3"),
              "TENANT_DATA_ROOT": str(tmp_path / "tenants"),
              "STORAGE_RESERVE_BYTES": 1 << 20, **extra_settings}
    if request.param == "postgres":
        config["TENANT_DB_URL"] = request.getfixturevalue("postgres_url")
    app = create_app(config)
    yield app
    close_app(app)


class WriteLockHolder:
    def __init__(self, app):
        settings = services_of(app).settings
        self._url = settings.db_url or str(settings.db_path)
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> "WriteLockHolder":
        self._process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, self._url, str(WRITE_LOCK)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout.readline().strip() == "held"
        return self

    @property
    def held(self) -> bool:
        return self._process.poll() is None

    def __exit__(self, *exc) -> None:
        self._process.stdin.close()
        self._process.wait(30)
        self._process.stdout.close()


class InFlight:
    """Counts the writes of one tenant's resolutions that run at the same time."""

    def __init__(self, monkeypatch, store, tenant: str):
        self.most = self._now = 0
        self._lock = threading.Lock()
        real = store.tenant_readiness.record_status

        def record_status(tenant_id, *args, **kwargs):
            # Not the background recording of a timed-out probe's error: it is no probe.
            if tenant_id != tenant or threading.current_thread().name == RECORDER:
                return real(tenant_id, *args, **kwargs)
            with self._lock:
                self._now += 1
                self.most = max(self.most, self._now)
            try:
                return real(tenant_id, *args, **kwargs)
            finally:
                with self._lock:
                    self._now -= 1

        monkeypatch.setattr(store.tenant_readiness, "record_status", record_status)


def _until(stop: threading.Event, call, limit: int = 2000) -> list:
    seen = []
    while not stop.is_set() and len(seen) < limit:
        seen.append(call())
    return seen


def test_a_probe_storm_on_a_tenant_waiting_for_the_store_answers_timeout_alone(
        app, monkeypatch):
    client, store = app.test_client(), services_of(app).store
    assert set_ready(client, "stuck", False).status_code == 200
    assert set_ready(client, "bystander", True).status_code == 200
    # Its override changes without a probe seeing it: the next probe must record the
    # new status, a write, and so waits for the write lock.
    assert store.tenant_readiness.set_override("stuck", True)
    in_flight = InFlight(monkeypatch, store, "stuck")
    stop = threading.Event()

    def storm(_):
        probe = app.test_client()
        return [readyz(probe, "stuck") for _ in range(STORM_PROBES)]

    with WriteLockHolder(app), ThreadPoolExecutor(STORM_THREADS + 2) as pool:
        bystander = pool.submit(_until, stop, lambda: readyz(app.test_client(), "bystander"))
        global_ = pool.submit(_until, stop, lambda: app.test_client().get("/readyz").status_code)
        try:
            answers = [a for f in [pool.submit(storm, i) for i in range(STORM_THREADS)]
                       for a in f.result(timeout=120)]
        finally:
            stop.set()
        bystander_answers, global_answers = bystander.result(60), global_.result(60)
    assert answers == [STUCK_ANSWER] * (STORM_THREADS * STORM_PROBES)
    assert in_flight.most == 1
    assert bystander_answers and bystander_answers == [BYSTANDER_READY] * len(bystander_answers)
    assert global_answers and set(global_answers) == {200}
    # The lock gone, the tenant resolves again.
    assert wait_until(lambda: readyz(client, "stuck") == (
        200, {"tenant": "stuck", "status": "ready", "reason": "override"}), seconds=30)


def test_without_chaos_no_resolver_thread_is_started(app):
    client = app.test_client()
    assert set_ready(client, "alone", True).status_code == 200
    before = {t.name for t in threading.enumerate()}
    for _ in range(5):
        assert readyz(client, "alone")[0] == 200
    assert not [t for t in threading.enumerate()
                if t.name.startswith("tenant-readiness") and t.name not in before]


@pytest.mark.parametrize("extra_settings", [{"TENANT_READINESS_HISTOGRAM": 1}], indirect=True)
def test_a_resolved_probe_does_not_wait_for_the_lock_to_record_its_duration(app):
    client, store = app.test_client(), services_of(app).store
    assert set_ready(client, "steady", True).status_code == 200
    assert readyz(client, "steady")[0] == 200
    # Longer than the holder holds: only the probe's deadline can end the wait.
    store.db.busy_timeout_ms = 300_000
    with WriteLockHolder(app) as holder, ThreadPoolExecutor(1) as pool:
        # A thread of its own: a SQLite connection opened with that busy timeout.
        answer = pool.submit(readyz, app.test_client(), "steady").result(timeout=100)
        assert holder.held
    assert answer == (200, {"tenant": "steady", "status": "ready", "reason": "override"})
