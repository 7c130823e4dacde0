"""The writers' gate: SQLite writers of every process wait their turn asleep, and are woken.

SQLite's own wait for its write lock (the busy handler) sleeps in growing steps, 1, 2, 5,
10 ... 100 ms, and tries again: the lock is idle while its waiters sleep, and a waiter that
keeps losing the race to fresh writers sleeps ever longer. Under many concurrent writes
that idle time, not the commits, was most of a write's latency. So every transaction of
this process takes the gate before BEGIN IMMEDIATE and leaves it after COMMIT:

- threads of one process queue on a ``threading.Lock``, handed over at once;
- the one thread of each process that holds that lock takes an ``flock`` on a file beside
  the database, shared by every process. Released by the kernel when its process dies, so
  a crashed writer never keeps it. A process that finds it taken waits in ``poll`` on a
  FIFO beside it, into which every release writes one byte: woken by the release itself,
  with a short fallback wait for the one release that writes nothing (its process died).

Every wait is bounded by the caller's timeout (the connection's busy timeout), as
SQLite's own wait was: a writer stuck inside its transaction makes the others answer
"locked", not hang. Readers never take the gate, and a writer that does not (another
program, an older version) still meets SQLite's lock, as before.
"""
from __future__ import annotations

import fcntl
import os
import select
import threading
import time
from pathlib import Path

# Longest wait between two tries when no release wakes the waiter: a holder that died
# (its lock freed by the kernel) writes no byte.
FALLBACK_WAIT_MS = 20


class GateTimeout(Exception):
    """The gate stayed taken for the whole timeout."""


class WriteGate:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.wake_path = self.path.with_name(self.path.name + "-wake")
        self._pid = -1
        self._open()

    def _open(self) -> None:
        """Descriptors and the in-process lock of this process (again after a fork: a child
        must not share its parent's open file description, whose flock is the parent's)."""
        if self._pid != -1:
            # Inherited from the parent: this process's copies only (the parent's lock
            # stays the parent's).
            os.close(self._fd)
            os.close(self._wake)
        try:
            os.mkfifo(self.wake_path, 0o600)
        except FileExistsError:
            pass
        self._lock = threading.Lock()
        # Read-only is enough for flock, and opens a write-protected store's file too.
        self._fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        # O_RDWR: a FIFO opened so never blocks in open() and never reads end-of-file.
        self._wake = os.open(self.wake_path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        # poll, not select: a worker may hold more than FD_SETSIZE descriptors. One thread
        # of the process at a time waits (the one holding the in-process lock).
        self._poll = select.poll()
        self._poll.register(self._wake, select.POLLIN)
        self._pid = os.getpid()

    def acquire(self, timeout: float) -> None:
        """Take the gate within ``timeout`` seconds, else raise GateTimeout."""
        if self._pid != os.getpid():
            self._open()
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout=max(timeout, 0.0)):
            raise GateTimeout()
        try:
            self._take_file_lock(deadline)
        except BaseException:
            self._lock.release()
            raise

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        # After the unlock, so the woken waiter finds the lock free. A full FIFO already
        # holds wake-ups enough.
        try:
            os.write(self._wake, b"\0")
        except BlockingIOError:
            pass
        self._lock.release()

    def _take_file_lock(self, deadline: float) -> None:
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            left_ms = (deadline - time.monotonic()) * 1000
            if left_ms <= 0:
                raise GateTimeout()
            # A release between the failed try and this wait left its byte in the FIFO:
            # no wake-up is lost.
            if self._poll.poll(min(left_ms, FALLBACK_WAIT_MS)):
                self._drain()

    def _drain(self) -> None:
        try:
            os.read(self._wake, 4096)
        except BlockingIOError:
            pass  # another process read the byte first: it is that one's turn to try

    def close(self) -> None:
        if self._pid != -1:
            os.close(self._fd)
            os.close(self._wake)
        self._pid = -1
