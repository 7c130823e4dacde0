"""The change hint: a counter in shared memory that rises after every tenant-config commit.

Every tenant request asks whether the store's config version moved (so that a change made
through any worker is live on every worker at its next request). Asked of SQLite, that is
a read transaction on every request, and under load threads queue on SQLite's shared
memory locks for it. The hint is 8 bytes in a small file beside the SQLite store, mapped
into every worker's memory: a commit that bumps config_version bumps the hint after it,
and a request reads the hint, a memory load. Only when it moved is the version read from
the store. PostgreSQL has no hint: other hosts' commits cannot bump a file on this one.
"""
from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path

_COUNTER = struct.Struct("<Q")


class ChangeHint:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(fd).st_size < _COUNTER.size:
                os.ftruncate(fd, _COUNTER.size)  # zeros: a fresh counter
            self._map = mmap.mmap(fd, _COUNTER.size, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def read(self) -> int:
        return _COUNTER.unpack_from(self._map, 0)[0]

    def bump(self) -> None:
        """Add one, under a file lock (writers of several processes never lose a bump)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            _COUNTER.pack_into(self._map, 0, (self.read() + 1) % (1 << 64))
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0:
            self._map.close()
            os.close(self._fd)
            self._fd = -1
