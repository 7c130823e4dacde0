"""PostgreSQL connections for the tenant store, shared by every host (TENANT_DB_URL).

Same interface as SQLiteDatabase: ``read()`` and ``write()`` yield a connection
whose ``execute`` takes the store's ``?`` placeholders. Every write transaction
first takes one transaction-level advisory lock, so writes are serialised across
hosts exactly as SQLite's BEGIN IMMEDIATE serialises them across workers: the
label cap's count-then-insert stays exact fleet-wide.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from .database import PROBE_WRITE
from .deadline import Deadlines
from .errors import StoreUnavailable
from .unit_of_work import UnitsOfWork

WRITE_LOCK = 7_406_211  # advisory lock id serialising store writes (any constant)
_PLACEHOLDER = re.compile(r"\?")


class Row(tuple):
    """A row readable by index and by column name, like sqlite3.Row."""

    _names: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: dict[str, int]):
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)


def _row_factory(cursor: psycopg.Cursor):
    names = {c.name: i for i, c in enumerate(cursor.description or [])}
    return lambda values: Row(values, names)


class _Connection:
    """Adapts a psycopg connection to the calls the store makes."""

    def __init__(self, conn: psycopg.Connection):
        self._conn = conn

    def config_changed(self) -> None:
        """No change hint: other hosts' commits could not bump a file on this one."""

    def savepoint(self):
        """A nested transaction: psycopg makes it a savepoint of the open one."""
        return self._conn.transaction()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor:
        return self._conn.execute(_to_psycopg(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> psycopg.Cursor:
        cursor = self._conn.cursor()
        cursor.executemany(_to_psycopg(sql), rows)
        return cursor


def _checkout(bound_ms: int | None) -> dict:
    """The pool's checkout wait, cut to a caller's deadline (0 would mean "the default")."""
    return {} if bound_ms is None else {"timeout": max(bound_ms, 1) / 1000}


def _bound_statements(conn: psycopg.Connection, ms: int) -> None:
    """This transaction's statements, and its waits for locks (the store's write lock
    included), end after ``ms``; 0 would mean "no limit" to PostgreSQL."""
    value = f"{max(ms, 1)}ms"
    conn.execute("SELECT set_config('statement_timeout', %s, true), "
                 "set_config('lock_timeout', %s, true)", (value, value))


def _to_psycopg(sql: str) -> str:
    """``?`` placeholders become ``%s``; a literal ``%`` (LIKE 'a%', a migration's text)
    must be doubled, or psycopg would take it for a placeholder of its own."""
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


class PostgresDatabase:
    dialect = "postgres"

    def __init__(self, url: str, max_connections: int = 16, timeout: float = 5.0):
        self.url = url
        self._timeout = timeout
        self.units = UnitsOfWork()
        self.deadlines = Deadlines()
        # check: see _check. reconnect_timeout: the pool retries a lost connection with
        # exponential back-off (1, 2, 4, ... s) and allows one growth attempt at a time, so
        # after a long outage its next attempt could come minutes after PostgreSQL is back.
        # Giving up after ``timeout`` ends each back-off chain early; the next request
        # starts a new one.
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max_connections, open=False, timeout=timeout,
            check=self._check, reconnect_timeout=timeout,
            kwargs={"autocommit": True, "row_factory": _row_factory,
                    "connect_timeout": max(1, int(timeout))})

    def _check(self, conn: psycopg.Connection) -> None:
        """Test a pooled connection (one round trip) before handing it out.

        Without it, after PostgreSQL restarted every idle connection of every worker
        failed one request with store_unavailable, although the store was back and
        /readyz said so. A dead connection means the others are likely dead too: they
        are all tested at once, so the pool's retry loop (which backs off 1, 2, 4 s
        between failed checks) meets at most one.
        """
        try:
            ConnectionPool.check_connection(conn)
        except psycopg.Error:
            self._pool.check()
            raise

    def open(self) -> None:
        try:
            self._pool.open(wait=True, timeout=self._timeout)
        except PoolTimeout as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc

    @contextmanager
    def read(self) -> Iterator[_Connection]:
        """A pooled connection; inside this thread's open write, that write's connection,
        so a read sees what the transaction wrote so far (SQLite does the same)."""
        try:
            joined = self.units.connection()
            if joined is not None:
                yield joined
                return
            bound = self.deadlines.wait_ms(int(self._timeout * 1000))
            with self._pool.connection(**_checkout(bound)) as conn:
                if bound is None:
                    yield _Connection(conn)
                    return
                # The bound as SET LOCAL, so it ends with this transaction and the pooled
                # connection goes back with the server's defaults.
                with conn.transaction():
                    _bound_statements(conn, self.deadlines.wait_ms(bound) or 0)
                    yield _Connection(conn)
        except (psycopg.OperationalError, psycopg.DataError, PoolTimeout) as exc:
            raise StoreUnavailable(str(exc).strip()) from exc

    @contextmanager
    def bounded(self, deadline: float) -> Iterator[None]:
        """This thread's store calls give up at ``deadline`` (app/store/deadline.py): the
        wait for a pooled connection, for a lock, and a statement's run are cut to the time
        left. Each ends in StoreUnavailable."""
        with self.deadlines.bounded(deadline):
            yield

    @contextmanager
    def write(self, serialise: bool = True, savepoint: bool = True) -> Iterator[_Connection]:
        """A transaction holding the write lock; inside another write of this thread, a
        savepoint of that one (app/store/unit_of_work.py), whatever ``savepoint`` says: a
        statement that fails aborts a whole PostgreSQL transaction but for its savepoint.

        ``serialise=False`` leaves the write lock out, for writes whose rows are locked
        one by one instead (job claims, ``FOR UPDATE SKIP LOCKED``): they never wait on,
        nor hold up, the store's other writers."""
        try:
            joined = self.units.connection()
            if joined is not None:
                with self.units.nested(), joined.savepoint():
                    yield joined
                return
            bound = self.deadlines.wait_ms(int(self._timeout * 1000))
            with self._pool.connection(**_checkout(bound)) as conn:
                wrapped = _Connection(conn)
                with self.units.outermost(wrapped), conn.transaction(), \
                        self.units.undo_first():
                    if bound is not None:
                        _bound_statements(conn, self.deadlines.wait_ms(bound) or 0)
                    if serialise:
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                    yield wrapped
        except (psycopg.OperationalError, psycopg.DataError, PoolTimeout) as exc:
            raise StoreUnavailable(str(exc).strip()) from exc

    def on_commit(self, action) -> None:
        self.units.on_commit(action)

    def on_rollback(self, action) -> None:
        self.units.on_rollback(action)

    def probe_write(self) -> str | None:
        """Try a no-op write without queueing behind other writers: the error, or None."""
        try:
            with self._pool.connection() as conn:
                with conn.transaction():
                    conn.execute("SET LOCAL lock_timeout = '100ms'")
                    conn.execute(PROBE_WRITE)
        except psycopg.errors.LockNotAvailable:
            return None  # busy, not refusing
        except (psycopg.Error, PoolTimeout) as exc:
            return str(exc).strip() or "writes refused"
        return None

    def close(self) -> None:
        self._pool.close()
