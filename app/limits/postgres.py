"""Fleet-wide limits (LIMIT_BACKEND=postgres): permits as session-level advisory locks.

Every thread of a worker takes its permits through a PostgreSQL session of its own
(pg_session.py), so threads never wait for each other's round trips, and a whole chain
(tenant total, tenant role, global total, global role) is one round trip to take, all
or nothing, and one to give back. A worker opens at most one session per thread that
takes a permit or reads the permits held; a thread's session closes when the thread
ends (or, if a permit taken through it is still held elsewhere, when that is released),
and every session closes at ``close()``.
"""
from __future__ import annotations

import os
import threading
import weakref
import zlib
from typing import Sequence

from .pair import Step
from .pg_session import PgPermit, Session, Wanted


def lock_key(owner: str, limit: str) -> int:
    """A stable 31-bit key for one limit of one owner (a tenant, or the server)."""
    return zlib.crc32(f"tenantgate:{owner}:{limit}".encode()) & 0x7FFFFFFF


class PgSemaphore:
    def __init__(self, backend: "PostgresBackend", key: int, capacity: int):
        self._backend, self.key, self.capacity = backend, key, capacity

    def try_acquire(self) -> PgPermit | None:
        # Made here, not at construction: most semaphores only ever go into a chain.
        taken = self._backend.session().take(Wanted([self.key], [self.capacity]))
        return taken if isinstance(taken, PgPermit) else None


class PgChain:
    """The steps of one chain (their semaphores from this backend), taken in one attempt."""

    def __init__(self, backend: "PostgresBackend", steps: Sequence[Step]):
        self._backend = backend
        self.steps = tuple(steps)
        self._wanted = Wanted([step.semaphore.key for step in self.steps],
                              [step.semaphore.capacity for step in self.steps])

    def try_acquire(self) -> tuple[PgPermit | None, Step | None]:
        """Every step's permit (and None), or None and the first step that was full."""
        taken = self._backend.session().take(self._wanted)
        if isinstance(taken, PgPermit):
            return taken, None
        return None, self.steps[taken]


class _Lease:
    """A thread's hold on its session: it goes when the thread ends, and retires it."""

    __slots__ = ("session", "__weakref__")

    def __init__(self, session: Session):
        self.session = session


class PostgresBackend:
    def __init__(self, url: str, timeout: float = 5.0):
        self._url = url
        self._timeout = timeout
        self._lock = threading.Lock()  # the set of sessions; never held for a round trip
        self._forget_sessions()

    def semaphore(self, owner: str, limit: str, capacity: int) -> PgSemaphore:
        return PgSemaphore(self, lock_key(owner, limit), capacity)

    def chain(self, steps: Sequence[Step]) -> PgChain:
        """The whole chain of ``steps`` (made by ``semaphore``), all taken or none."""
        return PgChain(self, steps)

    def inflight(self, owner: str, limit: str, capacity: int) -> int:
        return self.session().inflight(lock_key(owner, limit), capacity)

    def inflight_many(self, wanted: list[tuple[str, str, int]]) -> list[int]:
        """``inflight`` of each (owner, limit, capacity), for a scrape: one read of pg_locks
        instead of one round trip per limit of every tenant."""
        slots: dict[int, list[int]] = {}
        for key, slot in self.session().all_held():
            slots.setdefault(key, []).append(slot)
        return [sum(1 for slot in slots.get(lock_key(owner, limit), ()) if slot < capacity)
                for owner, limit, capacity in wanted]

    def session(self) -> Session:
        """The calling thread's session, opened on first use."""
        lease = getattr(self._local, "lease", None)
        if lease is not None and not lease.session.closed and lease.session.pid == os.getpid():
            return lease.session
        return self._open()

    def close(self) -> None:
        with self._lock:
            sessions = list(self._sessions) if self._pid == os.getpid() else []
        for session in sessions:
            session.close()

    def remove(self) -> None:
        self.close()

    def _open(self) -> Session:
        with self._lock:
            if self._pid != os.getpid():
                self._forget_sessions()  # a forked child: the parent's are not ours to use
            session = Session(self._url, self._timeout)
            self._sessions.add(session)
        lease = _Lease(session)
        weakref.finalize(lease, session.retire).atexit = False
        self._local.lease = lease
        return session

    def _forget_sessions(self) -> None:
        self._pid = os.getpid()
        self._local = threading.local()
        self._sessions: weakref.WeakSet[Session] = weakref.WeakSet()
