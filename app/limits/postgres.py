"""Fleet-wide limits (LIMIT_BACKEND=postgres): permits as session-level advisory locks.

Each worker holds its permits through one PostgreSQL session of its own, so when
a process or a whole host dies its session ends and its permits return. Session
advisory locks are re-entrant within a session: two threads of one worker asking
for the same slot would both "get" it, so the worker tracks the slots it holds
and never asks for one of them again; the session is used by one thread at a time.
"""
from __future__ import annotations

import logging
import os
import threading
import zlib

import psycopg

from ..store import StoreUnavailable

log = logging.getLogger(__name__)

_HELD = ("SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted "
         "AND objsubid = 2 AND classid::bigint = %s "
         "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")


def lock_key(owner: str, limit: str) -> int:
    """A stable 31-bit key for one limit of one owner (a tenant, or the server)."""
    return zlib.crc32(f"tenantgate:{owner}:{limit}".encode()) & 0x7FFFFFFF


class PgPermit:
    __slots__ = ("_backend", "_key", "slot")

    def __init__(self, backend: "PostgresBackend", key: int, slot: int):
        self._backend, self._key, self.slot = backend, key, slot

    def release(self) -> None:
        if self._backend is not None:
            backend, self._backend = self._backend, None
            backend._release(self)


class PgSemaphore:
    def __init__(self, backend: "PostgresBackend", key: int, capacity: int):
        self._backend, self._key, self.capacity = backend, key, capacity

    def try_acquire(self) -> PgPermit | None:
        return self._backend._try_acquire(self._key, self.capacity)


class PostgresBackend:
    def __init__(self, url: str, timeout: float = 5.0):
        self._url = url
        self._timeout = timeout
        self._conn: psycopg.Connection | None = None
        self._pid = 0
        self._lock = threading.Lock()
        # (key, slot) -> the permit holding it through the current session. A permit
        # from a session that was lost must not release the same slot taken again since.
        self._held: dict[tuple[int, int], PgPermit] = {}

    def semaphore(self, owner: str, limit: str, capacity: int) -> PgSemaphore:
        return PgSemaphore(self, lock_key(owner, limit), capacity)

    def inflight(self, owner: str, limit: str, capacity: int) -> int:
        with self._lock:
            held = self._run(_HELD, (lock_key(owner, limit),)).fetchall()
        return sum(1 for (slot,) in held if slot < capacity)

    def close(self) -> None:
        with self._lock:
            self._drop_session()

    def remove(self) -> None:
        self.close()

    def _try_acquire(self, key: int, capacity: int) -> PgPermit | None:
        # One lock attempt per statement: a set-returning query could take more locks
        # than it returns. Slots held anywhere (pg_locks) are skipped, not tried.
        with self._lock:
            taken = {slot for (slot,) in self._run(_HELD, (key,)).fetchall()}
            for slot in range(capacity):
                if slot in taken or (key, slot) in self._held:
                    continue
                if self._run("SELECT pg_try_advisory_lock(%s, %s)", (key, slot)).fetchone()[0]:
                    permit = self._held[(key, slot)] = PgPermit(self, key, slot)
                    return permit
        return None

    def _release(self, permit: PgPermit) -> None:
        key, slot = permit._key, permit.slot
        with self._lock:
            if self._held.get((key, slot)) is not permit:
                return  # the session was lost meanwhile, and the lock with it
            del self._held[(key, slot)]
            try:
                self._run("SELECT pg_advisory_unlock(%s, %s)", (key, slot), retry=False)
            except StoreUnavailable as exc:
                log.warning("permit release: session lost (%s); the lock went with it", exc)

    def _run(self, sql: str, params: tuple, retry: bool = True):
        # A session that was fine when last used may have died since (PostgreSQL
        # restarted): its locks died with it, so the statement is tried once more on a
        # new session. Not for an unlock: a new session holds nothing to unlock.
        stale = self._conn is not None and not self._conn.closed and self._pid == os.getpid()
        try:
            return self._session().execute(sql, params)
        except psycopg.OperationalError as exc:
            self._drop_session()
            if not (retry and stale):
                raise StoreUnavailable(str(exc).strip()) from exc
        try:
            return self._session().execute(sql, params)
        except psycopg.OperationalError as exc:
            self._drop_session()
            raise StoreUnavailable(str(exc).strip()) from exc

    def _session(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._pid != os.getpid():
            self._held.clear()  # a new session holds nothing
            self._conn = psycopg.connect(self._url, autocommit=True,
                                         connect_timeout=max(1, int(self._timeout)))
            self._pid = os.getpid()
        return self._conn

    def _drop_session(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            try:
                self._conn.close()
            except psycopg.Error:
                log.debug("closing a broken limits session")
        self._conn = None
        self._held.clear()
