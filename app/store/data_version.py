"""The store's data version: a number that moves with every commit to the SQLite file.

SQLite's ``PRAGMA data_version`` changes, on one connection, whenever any *other*
connection (of this process or any other) has committed since it was last asked. Asked
on a connection of its own that never writes, it therefore moves with every commit of
every worker, and stays put while nothing was committed: what lets a scrape keep
series read from the store until the store changes, and never longer.
"""
from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from pathlib import Path
from urllib.parse import quote

from .errors import StoreUnavailable

_opened = itertools.count(1)  # every connection opened here, in this process and its children


class DataVersion:
    def __init__(self, path: str | os.PathLike):
        self._path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] = (0, 0)  # (pid, connection number)

    def read(self) -> tuple[int, int, int]:
        """(pid, connection, data_version): equal only while the same connection saw no
        commit (a connection opened again, or in a forked child, starts a new count)."""
        with self._lock:
            try:
                if self._conn is None or self._identity[0] != os.getpid():
                    self._conn = sqlite3.connect(f"file:{quote(str(self._path))}?mode=rw",
                                                 uri=True, isolation_level=None,
                                                 check_same_thread=False)
                    self._identity = (os.getpid(), next(_opened))
                version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error as exc:
                self._forget()
                raise StoreUnavailable(str(exc)) from exc
            return (*self._identity, version)

    def close(self) -> None:
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._identity[0] == os.getpid():
            conn.close()
