"""The fleet permit chain (LIMIT_BACKEND=postgres): a whole chain taken in one call, all or
nothing; a session per thread, so that threads of one worker never wait for each other's
round trips; sessions closed when their threads end; permits of a lost session never given
back onto someone else's slot."""
from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from app.limits.pair import Step
from app.limits.pg_session import APPLICATION_NAME
from app.limits.postgres import PostgresBackend
from app.limits.whole_chain import hold_whole
from tests.limits.chain_checks import check_a_refusal_names_the_full_step
from tests.limits.test_postgres import terminate_sessions
from tests.support.polling import poll

CHAIN = (("tenant", "acme", "llm_total", 5), ("tenant", "acme", "llm_student", 2),
         ("global", "_global", "llm_total", 1), ("global", "_global", "llm_student", 5))


@pytest.fixture
def backends(postgres_url):
    made = [PostgresBackend(postgres_url), PostgresBackend(postgres_url)]
    yield made
    for backend in made:
        backend.close()


def steps_of(backend: PostgresBackend) -> list[Step]:
    return [Step(scope, limit, backend.semaphore(owner, limit, capacity))
            for scope, owner, limit, capacity in CHAIN]


def held(backend: PostgresBackend) -> list[int]:
    return [backend.inflight(owner, limit, capacity) for _, owner, limit, capacity in CHAIN]


def sessions(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                            "AND datname = current_database()", (APPLICATION_NAME,)).fetchone()[0]


def advisory_locks(url: str) -> int:
    """Permits held now on the database, read without a session of the backend."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                            "AND granted").fetchone()[0]


def test_a_full_later_step_gives_back_the_earlier_ones_in_the_same_call(backends):
    one, two = backends
    blocker = two.semaphore("_global", "llm_total", 1).try_acquire()  # global llm_total full
    steps = steps_of(one)
    permit, full = one.chain(steps).try_acquire()
    assert permit is None and full is steps[2]
    # Seen from another session right after the one call: nothing of the chain stays held.
    assert held(two) == [0, 0, 1, 0]
    blocker.release()
    permit, full = one.chain(steps).try_acquire()
    assert full is None and permit.pairs == tuple((s.semaphore.key, 0) for s in steps)
    assert held(two) == [1, 1, 1, 1]
    permit.release()
    assert held(two) == [0, 0, 0, 0]


def test_slots_a_session_holds_are_skipped_not_granted_again(backends):
    """Advisory locks are re-entrant: a second chain of one session takes the next slots."""
    one, two = backends
    steps = [Step("tenant", "ocr", one.semaphore("acme", "ocr", 2))]
    first, _ = one.chain(steps).try_acquire()
    second, _ = one.chain(steps).try_acquire()
    third, full = one.chain(steps).try_acquire()
    assert (first.slot, second.slot, third, full) == (0, 1, None, steps[0])
    assert two.inflight("acme", "ocr", 2) == 2
    first.release()
    second.release()
    assert two.inflight("acme", "ocr", 2) == 0


def test_a_refusal_names_the_step_that_was_full(postgres_url, backends):
    check_a_refusal_names_the_full_step(*backends, untouched=(
        ("acme", "llm_total"), ("_global", "llm_student")))


def test_a_waiting_chain_is_retried_whole_until_it_is_admitted(backends):
    one, two = backends
    blocker = two.semaphore("_global", "llm_total", 1).try_acquire()
    pauses = []

    def pause(seconds):  # the first pause: the blocker goes, so the next attempt is admitted
        pauses.append(seconds)
        blocker.release()

    with hold_whole(one.chain(steps_of(one)), wait_seconds=30, pause=pause):
        assert held(two) == [1, 1, 1, 1]
    assert len(pauses) == 1 and held(two) == [0, 0, 0, 0]


def test_threads_of_one_worker_never_wait_for_each_others_round_trips(postgres_url, backends):
    """Thread A's session is frozen mid round trip (its server process stopped): thread B
    of the same backend still takes, holds and gives back a permit of another limit."""
    backend = backends[0]
    warm, go = threading.Event(), threading.Event()

    def thread_a():
        backend.semaphore("acme", "ocr", 5).try_acquire().release()  # A's session is open
        warm.set()
        assert go.wait(60)
        return backend.semaphore("acme", "ocr", 5).try_acquire()

    def thread_b():
        permit = backend.semaphore("acme", "llm_student", 2).try_acquire()
        count = backend.inflight("acme", "llm_student", 2)
        permit.release()
        return count

    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(thread_a)
        assert warm.wait(60)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            (pid,), = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                                   "AND datname = current_database()",
                                   (APPLICATION_NAME,)).fetchall()
        os.kill(pid, signal.SIGSTOP)
        try:
            go.set()
            assert pool.submit(thread_b).result(timeout=60) == 1
            assert not a.done()  # A's round trip is still waiting on its stopped session
        finally:
            os.kill(pid, signal.SIGCONT)
        permit = a.result(timeout=60)
    assert permit is not None and backends[1].inflight("acme", "ocr", 5) == 1
    permit.release()
    assert backends[1].inflight("acme", "ocr", 5) == 0


def test_a_threads_session_closes_when_the_thread_ends(postgres_url, backends):
    backend = backends[0]
    threads = 4
    barrier = threading.Barrier(threads + 1)
    kept = []

    def work(index):
        for _ in range(10):
            backend.semaphore("acme", "ocr", 5).try_acquire().release()
        if index == 0:  # a permit that outlives its thread keeps the session until released
            kept.append(backend.semaphore("acme", "ocr", 5).try_acquire())
        barrier.wait(timeout=60)
        barrier.wait(timeout=60)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=60)
    assert sessions(postgres_url) == threads  # one per thread, however many permits
    barrier.wait(timeout=60)
    for worker in workers:
        worker.join(timeout=60)
    assert poll(lambda: sessions(postgres_url), lambda n: n == 1) == 1
    assert advisory_locks(postgres_url) == 1
    kept[0].release()
    assert poll(lambda: sessions(postgres_url), lambda n: n == 0) == 0
    assert advisory_locks(postgres_url) == 0


def test_close_ends_every_threads_session(postgres_url, backends):
    backend = backends[0]
    with ThreadPoolExecutor(3) as pool:
        permits = list(pool.map(lambda _: backend.semaphore("acme", "ocr", 5).try_acquire(),
                                range(3)))
        assert sessions(postgres_url) >= 1
        backend.close()
    assert poll(lambda: sessions(postgres_url), lambda n: n == 0) == 0
    assert advisory_locks(postgres_url) == 0
    for permit in permits:
        permit.release()  # their session is gone: nothing to give back, no error


def test_a_lost_sessions_chain_never_releases_anothers_slots(postgres_url, backends):
    one, two = backends
    lost, _ = one.chain(steps_of(one)).try_acquire()
    assert terminate_sessions(postgres_url) >= 1
    assert poll(lambda: held(two), lambda n: n == [0, 0, 0, 0]) == [0, 0, 0, 0]
    renewed, _ = two.chain(steps_of(two)).try_acquire()
    assert renewed is not None
    lost.release()  # its locks went with its session: this gives back nothing of two's
    assert held(one) == [1, 1, 1, 1]
    renewed.release()
    assert held(one) == [0, 0, 0, 0]


def test_a_scrape_reads_every_limits_permits_in_one_listing(backends):
    one, two = backends
    permit, _ = one.chain(steps_of(one)).try_acquire()
    extra = one.semaphore("acme", "llm_total", 5).try_acquire()
    wanted = [(owner, limit, capacity) for _, owner, limit, capacity in CHAIN]
    wanted += [("acme", "llm_total", 1), ("beta", "llm_total", 5)]  # capped; never taken
    assert two.inflight_many(wanted) == [2, 1, 1, 1, 1, 0]
    assert two.inflight_many(wanted) == [two.inflight(*w) for w in wanted]
    permit.release()
    extra.release()
    assert two.inflight_many(wanted) == [0] * len(wanted)
