"""SQLite connections for the tenant store: one per thread, WAL, busy timeout, foreign keys.

gunicorn workers and their threads each get their own connection; SQLite's file
locking makes the file the single source of truth they all share.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote
from typing import Iterator

from .change_hint import ChangeHint
from .deadline import PROGRESS_STEPS, Deadlines
from .errors import StoreUnavailable
from .unit_of_work import UnitsOfWork
from .write_gate import GateTimeout, WriteGate

BUSY_TIMEOUT_MS = 5000
PAGE_CACHE_KIB = 64  # per connection (see _connect)
PROBE_BUSY_MS = 50  # the write probe never waits on other writers (busy is not broken)
# A real change (an unchanged row may commit without touching the disk at all).
PROBE_WRITE = ("INSERT INTO store_meta (key, value) VALUES ('write_probe', 1) "
               "ON CONFLICT (key) DO UPDATE SET value = store_meta.value + 1")


class _StoreConnection(sqlite3.Connection):
    """A connection that knows its database, so that a commit that moves config_version
    can bump the change hint after it (app/store/change_hint.py)."""

    database: "SQLiteDatabase"

    def config_changed(self) -> None:
        self.database.on_commit(self.database.hint.bump)


class SQLiteDatabase:
    """Opens and hands out per-thread connections to one SQLite file."""

    dialect = "sqlite"

    def __init__(self, path: str | os.PathLike, busy_timeout_ms: int = BUSY_TIMEOUT_MS):
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._lock = threading.Lock()
        # Every connection opened, with the thread it belongs to.
        self._all: list[tuple[threading.Thread, sqlite3.Connection]] = []
        # Set when a write failed for a reason other than contention (read-only, disk full).
        self.write_refused = False
        self.units = UnitsOfWork()
        self.deadlines = Deadlines()
        self.hint: ChangeHint | None = None  # set by open()
        self.gate: WriteGate | None = None  # set by open(); every write takes it

    def open(self) -> None:
        """Create the file's directory and check the file opens read-write (raises OSError)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(self.path.parent, os.W_OK):
            raise PermissionError(f"directory {self.path.parent} is not writable")
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise PermissionError(f"{self.path} is not writable")
        self.connection()
        self.hint = ChangeHint(self.path.with_name(self.path.name + "-version"))
        self.gate = WriteGate(self.path.with_name(self.path.name + "-writers"))

    def _connect(self) -> sqlite3.Connection:
        # mode=rw: never fall back silently to a read-only connection (which would then be
        # cached for this thread long after the file became writable again).
        conn = sqlite3.connect(f"file:{quote(str(self.path))}?mode=rwc", uri=True,
                               timeout=self.busy_timeout_ms / 1000,
                               isolation_level=None, check_same_thread=False,
                               factory=_StoreConnection)
        conn.database = self
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        self._enable_wal(conn)
        # FULL: a commit is on disk before the client hears "ok", even if the host loses power.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Each thread's connection keeps pages it read (up to 2 MiB by default), and a
        # worker's sync reads every loaded tenant's row on whichever thread it runs: the
        # tenants table ended up once per connection in every worker, about 330 KiB each
        # by 1,000 tenants. Under WAL any commit (by any worker) empties those pages at
        # the connection's next read anyway, and the OS keeps the file cached; 64 KiB
        # holds the b-trees' upper levels.
        conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching a new file to WAL needs an exclusive lock and does not wait on
        # busy_timeout, so a process opening it while another writes retries here.
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (and again after a fork)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            try:
                conn = self._connect()
            except sqlite3.Error as exc:
                raise StoreUnavailable(str(exc)) from exc
            self._local.conn, self._local.pid = conn, os.getpid()
            # SQLite opens a write-protected file read-only without a word (even with
            # mode=rw); remember it, so the first write after the protection is lifted
            # reopens instead of failing.
            self._local.opened_readonly = not os.access(self.path, os.W_OK)
            self._adopt(conn)
        return conn

    def _adopt(self, conn: sqlite3.Connection) -> None:
        """Keep ``conn`` as this thread's, and close those of threads that have ended.

        Threads come and go (a tenant's upload worker at each reload, deadline-runner
        threads added under load): a connection left behind by each would keep three
        descriptors (database, WAL, shared memory) open for the life of the worker.
        """
        with self._lock:
            alive = [(t, c) for t, c in self._all if t.is_alive()]
            ended = [c for t, c in self._all if not t.is_alive()]
            self._all = alive + [(threading.current_thread(), conn)]
        for old in ended:
            old.close()  # check_same_thread=False: any thread may close it

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads; SQLite errors become StoreUnavailable."""
        try:
            yield self.connection()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(str(exc)) from exc

    @contextmanager
    def write(self, serialise: bool = True,
              savepoint: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction taken with BEGIN IMMEDIATE, so read-then-write is atomic.
        (Every SQLite write is serialised by the file's lock: ``serialise`` is for the
        PostgreSQL store's sake.)

        Inside another write of this thread it is a savepoint of that one (app/store/
        unit_of_work.py): it commits, or rolls back, with the outermost. ``savepoint=False``
        joins it without one, for a write of one statement (which SQLite undoes whole when
        it fails), or of statements whose part done is harmless when a later one fails:
        two statements less in a transaction other writers wait for. The outermost takes
        the writers' gate before BEGIN and leaves it after COMMIT or ROLLBACK (app/store/
        write_gate.py), so writers queue asleep instead of polling SQLite's lock.
        """
        joined = self.units.connection()
        if joined is not None:
            if savepoint:
                with self._savepoint(joined):
                    yield joined
                return
            try:
                yield joined
            except sqlite3.OperationalError as exc:
                # As in a savepoint: the outermost write decides what it means.
                raise StoreUnavailable(str(exc)) from exc
            return
        conn = self.connection()
        if self._local.opened_readonly:
            self._forget_thread_connection()
            conn = self.connection()
        self._enter_gate()
        try:
            self._begin(conn)
        except sqlite3.OperationalError as exc:
            self._leave_gate()
            raise self._write_failed(exc) from exc
        with self.units.outermost(conn):
            try:
                with self.units.undo_first():
                    yield conn
                    conn.execute("COMMIT")
                self.write_refused = False
            except sqlite3.OperationalError as exc:
                _rollback(conn)
                raise self._write_failed(exc) from exc
            except BaseException:
                _rollback(conn)
                raise
            finally:
                # Before the commit callbacks (a purge's directory removal): the next
                # writer waits for the transaction only.
                self._leave_gate()

    def _enter_gate(self) -> None:
        if self.gate is None:
            return
        usual = getattr(self._local, "busy_ms", self.busy_timeout_ms)
        bound = self.deadlines.wait_ms(usual)  # a caller's deadline cuts it short
        try:
            self.gate.acquire((usual if bound is None else bound) / 1000)
        except GateTimeout:
            # What SQLite says when its own wait ends: callers treat it as contention.
            raise StoreUnavailable("database is locked (waited for the writers' gate)") \
                from None

    def _leave_gate(self) -> None:
        if self.gate is not None:
            self.gate.release()

    @contextmanager
    def bounded(self, deadline: float) -> Iterator[None]:
        """This thread's store calls give up at ``deadline`` (app/store/deadline.py): the
        wait for the write lock is cut to the time left, and a statement still running
        then is interrupted. Either ends in StoreUnavailable."""
        if self.deadlines.active:  # inside another bound: its handler is in place
            with self.deadlines.bounded(deadline):
                yield
            return
        conn = self.connection()
        with self.deadlines.bounded(deadline):
            conn.set_progress_handler(self.deadlines.passed, PROGRESS_STEPS)
            try:
                yield
            finally:
                conn.set_progress_handler(None, 0)

    def _begin(self, conn: sqlite3.Connection) -> None:
        # BEGIN IMMEDIATE is where a write waits for the lock (WAL readers never wait).
        usual = getattr(self._local, "busy_ms", self.busy_timeout_ms)
        bound = self.deadlines.wait_ms(usual)
        if bound is None:
            conn.execute("BEGIN IMMEDIATE")
            return
        conn.execute(f"PRAGMA busy_timeout = {bound}")
        try:
            conn.execute("BEGIN IMMEDIATE")
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(usual)}")

    def on_commit(self, action) -> None:
        self.units.on_commit(action)

    def on_rollback(self, action) -> None:
        self.units.on_rollback(action)

    @contextmanager
    def _savepoint(self, conn: sqlite3.Connection) -> Iterator[None]:
        name = f"tenantgate_{self.units.depth()}"
        try:
            conn.execute(f"SAVEPOINT {name}")
            with self.units.nested():
                try:
                    yield
                except BaseException:
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                    raise
                conn.execute(f"RELEASE {name}")
        except sqlite3.OperationalError as exc:
            # The outermost write decides what a broken connection means; here, only say so.
            raise StoreUnavailable(str(exc)) from exc

    def probe_write(self) -> str | None:
        """Try a no-op write without waiting on other writers: the error if writes are refused.

        A busy store (another writer holds the lock) is not a refusal: None.
        """
        conn = self.connection()
        conn.execute(f"PRAGMA busy_timeout = {PROBE_BUSY_MS}")
        # What a bounded write puts back (see _begin), and how long the gate is waited for.
        self._local.busy_ms = PROBE_BUSY_MS
        try:
            with self.write() as tx:
                tx.execute(PROBE_WRITE)
        except StoreUnavailable as exc:
            text = str(exc)
            return None if _contention(text) else text or "writes refused"
        finally:
            del self._local.busy_ms
            if getattr(self._local, "conn", None) is conn:
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        return None

    def _write_failed(self, exc: sqlite3.OperationalError) -> StoreUnavailable:
        text = str(exc)
        if not _contention(text):
            # Read-only or I/O failure: this connection may stay broken (SQLite caches a
            # read-only open, and an I/O error can poison it); reopen on next use.
            self._forget_thread_connection()
            self.write_refused = True  # the readiness check looks again at once
        return StoreUnavailable(text)

    def _forget_thread_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._all = [(t, c) for t, c in self._all if c is not conn]
            conn.close()

    def close(self) -> None:
        with self._lock:
            conns, self._all = [c for _, c in self._all], []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.ProgrammingError:
                # A connection created in another thread that is still in use; it dies with it.
                pass
        self._local = threading.local()
        if self.hint is not None:
            self.hint.close()
        if self.gate is not None:
            self.gate.close()


def _contention(text: str) -> bool:
    """Another writer holds the lock, or a caller's deadline interrupted the statement:
    the store works, it was busy."""
    return "locked" in text or "busy" in text or "interrupted" in text


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            # SQLite already rolled back (e.g. after a disk I/O error); nothing left to undo.
            pass
