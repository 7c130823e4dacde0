"""Tenant files, checked where they are used, not only when their directories were configured.

A tenant's directories are stored resolved (app/tenants/paths.py), so a symlink met on
the way to one at use was put there later: ``mv a/data a/data.orig; ln -s ../b/data
a/data`` would otherwise serve tenant b's files as a's. So a stored directory is opened
one component at a time from ``/`` without following any link, and every file inside
is opened relative to that descriptor, never again by path: a link is refused
(O_NOFOLLOW), a FIFO cannot hang the thread (O_NONBLOCK, then fstat), and only a
regular file with a single link (a hard link to another tenant's file has two) and a
bounded size is read. A refusal is ``RefusedFile``, an OSError naming the reason.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

SYMLINK, NOT_REGULAR, HARD_LINKED, TOO_LARGE = "symlink", "not_regular", "hard_linked", \
    "too_large"


class RefusedFile(OSError):
    """A tenant file or directory that is not what it must be; ``reason`` says what."""

    def __init__(self, name: str, reason: str):
        super().__init__(errno.EPERM, f"refused ({reason})", name)
        self.reason = reason


class TenantDirectory:
    """One open tenant directory; every file operation goes through its descriptor."""

    def __init__(self, fd: int, path: str):
        self.fd = fd
        self.path = path

    @classmethod
    def open(cls, path: str | os.PathLike) -> "TenantDirectory":
        """Open an absolute, stored directory without following a link anywhere on its path."""
        where = Path(path)
        if not where.is_absolute():
            raise ValueError(f"{path} is not absolute")
        fd = os.open("/", _DIRECTORY)
        try:
            for part in where.parts[1:]:
                child = _open_directory_at(fd, _plain(part), str(where))
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, str(where))

    def subdirectory(self, name: str) -> "TenantDirectory":
        return TenantDirectory(_open_directory_at(self.fd, _plain(name), name),
                               os.path.join(self.path, name))

    def names(self) -> list[str]:
        return os.listdir(self.fd)

    def lstat(self, name: str) -> os.stat_result:
        return os.stat(_plain(name), dir_fd=self.fd, follow_symlinks=False)

    def open_file(self, name: str, max_bytes: int | None = None) -> BinaryIO:
        """A regular file with one link (and at most ``max_bytes``), open for reading."""
        try:
            fd = os.open(_plain(name), _READ, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RefusedFile(name, SYMLINK) from None
            raise
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
            if not stat.S_ISREG(info.st_mode):
                raise RefusedFile(name, NOT_REGULAR)
            if info.st_nlink != 1:
                raise RefusedFile(name, HARD_LINKED)
            if max_bytes is not None and info.st_size > max_bytes:
                raise RefusedFile(name, TOO_LARGE)
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def read(self, name: str, max_bytes: int) -> bytes:
        with self.open_file(name, max_bytes) as handle:
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:  # it grew since fstat
            raise RefusedFile(name, TOO_LARGE)
        return data

    def create(self, name: str) -> BinaryIO:
        """A new file (none of that name may exist, not even a link), open for writing."""
        return os.fdopen(os.open(_plain(name), _CREATE, 0o666, dir_fd=self.fd), "wb")

    def replace(self, source: str, target: str) -> None:
        """Rename ``source`` over ``target`` (a link at ``target`` is replaced, not followed)."""
        os.replace(_plain(source), _plain(target), src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def remove(self, name: str, missing_ok: bool = False) -> None:
        try:
            os.unlink(_plain(name), dir_fd=self.fd)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def sync(self) -> None:
        """Make renames and creations in this directory durable."""
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def __enter__(self) -> "TenantDirectory":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _plain(name: str) -> str:
    # One name inside the directory, never a path: "..", "a/b" or "" would leave it.
    if not name or name in (".", "..") or "/" in name or "\x00" in name:
        raise ValueError(f"{name!r} is not a plain file name")
    return name


def _open_directory_at(dir_fd: int, name: str, shown: str) -> int:
    try:
        return os.open(name, _DIRECTORY, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):
            # O_DIRECTORY|O_NOFOLLOW on a link fails with ENOTDIR: tell the two apart.
            if stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                raise RefusedFile(shown, SYMLINK) from None
        raise
