"""PostgresBackend (LIMIT_BACKEND=postgres): permits as session-level advisory locks, exact
across sessions (workers, hosts), given back when a session ends, and a session that died
under a worker (PostgreSQL restarted) is replaced instead of failing a request."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from app.limits.postgres import PostgresBackend
from tests.support.polling import poll


@pytest.fixture
def url(postgres_url) -> str:
    return postgres_url


@pytest.fixture
def backends(url):
    """Two backends: two sessions, as two workers (or hosts) have."""
    made = [PostgresBackend(url), PostgresBackend(url)]
    yield made
    for backend in made:
        backend.close()


def test_capacity_holds_across_sessions(backends):
    one, two = (b.semaphore("acme", "llm_student", 2) for b in backends)
    first, second = one.try_acquire(), two.try_acquire()
    assert first is not None and second is not None
    assert {first.slot, second.slot} == {0, 1}
    assert one.try_acquire() is None and two.try_acquire() is None
    assert backends[0].inflight("acme", "llm_student", 2) == 2
    first.release()
    assert backends[1].inflight("acme", "llm_student", 2) == 1
    third = two.try_acquire()
    assert third is not None and third.slot == first.slot
    second.release()
    third.release()
    assert backends[0].inflight("acme", "llm_student", 2) == 0


def test_threads_of_one_worker_never_share_a_slot(backends):
    """Session advisory locks are re-entrant: the backend must not hand a slot twice."""
    backend = backends[0]
    semaphore = backend.semaphore("acme", "ocr", 3)
    threads = 8
    barrier = threading.Barrier(threads)

    def take(_):
        barrier.wait(timeout=30)
        return semaphore.try_acquire()

    with ThreadPoolExecutor(threads) as pool:
        permits = [p for p in pool.map(take, range(threads), timeout=60) if p is not None]
    assert sorted(p.slot for p in permits) == [0, 1, 2]
    assert backend.inflight("acme", "ocr", 3) == 3
    for permit in permits:
        permit.release()
        permit.release()  # a second release is a no-op
    assert backend.inflight("acme", "ocr", 3) == 0


def test_limits_are_per_owner_and_name(backends):
    backend = backends[0]
    held = [backend.semaphore(owner, name, 1).try_acquire()
            for owner, name in (("acme", "ocr"), ("beta", "ocr"), ("acme", "llm_total"))]
    assert None not in held
    assert backend.inflight("acme", "ocr", 1) == 1 and backend.inflight("beta", "ocr", 1) == 1
    assert backend.inflight("beta", "llm_total", 1) == 0
    for permit in held:
        permit.release()


def test_inflight_counts_only_slots_below_the_capacity(backends):
    semaphore = backends[0].semaphore("acme", "ocr", 3)
    permits = [semaphore.try_acquire() for _ in range(3)]
    # The capacity was lowered to 1: two permits still held above it are not counted.
    assert backends[1].inflight("acme", "ocr", 1) == 1
    assert backends[1].semaphore("acme", "ocr", 1).try_acquire() is None
    for permit in permits:
        permit.release()


def test_a_closed_session_gives_its_permits_back(backends):
    one, two = backends
    held = [one.semaphore("acme", "llm_student", 2).try_acquire() for _ in range(2)]
    assert None not in held
    assert two.semaphore("acme", "llm_student", 2).try_acquire() is None
    one.close()  # the worker's session ends (a dead worker's ends with its process)
    # The server notices the closed connection and drops its locks a moment later.
    assert poll(lambda: two.inflight("acme", "llm_student", 2), lambda n: n == 0) == 0
    again = [two.semaphore("acme", "llm_student", 2).try_acquire() for _ in range(2)]
    assert None not in again
    for permit in held + again:
        permit.release()


def terminate_sessions(url: str) -> int:
    """Kill every other session on the database, as a PostgreSQL restart would."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                            ).fetchone()[0]


def test_a_session_that_died_is_replaced_without_failing_a_request(url, backends):
    backend, other = backends
    held = backend.semaphore("acme", "llm_student", 2).try_acquire()
    assert held is not None
    assert terminate_sessions(url) >= 1
    # The lock died with the session; the next call reconnects instead of failing.
    assert backend.inflight("acme", "llm_student", 2) == 0
    assert other.inflight("acme", "llm_student", 2) == 0
    renewed = [backend.semaphore("acme", "llm_student", 2).try_acquire() for _ in range(2)]
    assert None not in renewed
    held.release()  # the old permit's lock is gone: releasing it touches nothing
    assert other.inflight("acme", "llm_student", 2) == 2
    for permit in renewed:
        permit.release()
    assert other.inflight("acme", "llm_student", 2) == 0
