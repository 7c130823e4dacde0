"""Permit slots held as OFD byte-range locks on a file: crash-safe and readable.

Slot ``i`` of a limit is byte ``i`` of its slot file. Taking a permit locks one
free byte with F_OFD_SETLK through an open file description (OFD) used by no
other holder; the kernel drops the lock when the holder's process dies, so a
SIGKILLed worker gives its permits back. In-flight counts are read with
F_OFD_GETLK through a description that never holds a lock, without taking any.
"""
from __future__ import annotations

import fcntl
import os
import struct
import threading
from pathlib import Path

# struct flock: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid (+pad).
_FLOCK = "hhqqi4x"


def _lock_request(kind: int, slot: int, length: int = 1) -> bytes:
    # length 0: from ``slot`` to the end of the file, however far it grows.
    return struct.pack(_FLOCK, kind, os.SEEK_SET, slot, length, 0)


class Permit:
    """One held slot; release it exactly once."""

    __slots__ = ("_slots", "_fd", "slot")

    def __init__(self, slots: "SlotFile", fd: int, slot: int):
        self._slots, self._fd, self.slot = slots, fd, slot

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            self._slots._release(fd, self.slot)


class SlotFile:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._free: list[int] = []
        self._lock = threading.Lock()
        self._probe = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._pid = os.getpid()

    def try_acquire(self, capacity: int) -> Permit | None:
        """A permit if fewer than ``capacity`` slots are held (by anyone), else None.

        Whatever fails half-way (a capacity too large for a lock offset, an interrupted
        call), the slot taken so far is given back before the error leaves: a permit is
        never leaked, so a failed hold cannot fill the limit for good.
        """
        fd = self._take_fd()
        slot = None
        try:
            slot = self._lock_first_free(fd, capacity)
            if slot is not None and self._held(capacity, 0) and \
                    self.inflight() > capacity:
                # Slots at or above ``capacity`` were taken under a larger capacity that
                # has since been lowered: admit nothing new until enough are released.
                self._unlock(fd, slot)
                slot = None
        except BaseException:
            if slot is not None:
                self._unlock(fd, slot)
            self._give_fd(fd)
            raise
        if slot is None:
            self._give_fd(fd)
            return None
        return Permit(self, fd, slot)

    @staticmethod
    def _lock_first_free(fd: int, capacity: int) -> int | None:
        for slot in range(capacity):
            try:
                fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _lock_request(fcntl.F_WRLCK, slot))
            except (BlockingIOError, PermissionError):
                continue
            return slot
        return None

    def inflight(self) -> int:
        """How many slots are held right now, across every process (also any held above
        today's capacity, taken before it was lowered).

        Costs about two F_OFD_GETLK per held slot and one more, never one per slot of
        capacity, so a scrape costs the same for a limit of 5 and one of 10,000.
        """
        held = 0
        ranges = [(0, 0)]  # (start, length); length 0: to the end of the file
        while ranges:
            start, length = ranges.pop()
            found = self._first_held(start, length)
            if found is None:
                continue
            slot, size = found
            if size == 0:  # a lock to the end of the file: never taken by a permit
                held += 1
                continue
            held += size
            # F_OFD_GETLK names *a* conflicting lock, not the lowest: look on both sides.
            if slot > start:
                ranges.append((start, slot - start))
            end = slot + size
            if length == 0:
                ranges.append((end, 0))
            elif end < start + length:
                ranges.append((end, start + length - end))
        return held

    def _held(self, slot: int, length: int = 1) -> bool:
        """Whether anyone holds a lock on [slot, slot + length) (length 0: to the end)."""
        return self._first_held(slot, length) is not None

    def _first_held(self, slot: int, length: int) -> tuple[int, int] | None:
        """(start, length) of one lock held on [slot, slot + length), or None."""
        answer = fcntl.fcntl(self._probe, fcntl.F_OFD_GETLK,
                             _lock_request(fcntl.F_WRLCK, slot, length))
        kind, _, start, size, _ = struct.unpack(_FLOCK, answer)
        return None if kind == fcntl.F_UNLCK else (start, size)

    def close(self) -> None:
        with self._lock:
            fds, self._free = self._free, []
        for fd in fds + [self._probe]:
            os.close(fd)

    def _release(self, fd: int, slot: int) -> None:
        self._unlock(fd, slot)
        self._give_fd(fd)

    @staticmethod
    def _unlock(fd: int, slot: int) -> None:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _lock_request(fcntl.F_UNLCK, slot))

    def _take_fd(self) -> int:
        with self._lock:
            if self._free:
                return self._free.pop()
        # A description of its own: locks through a shared one would not exclude each other.
        return os.open(self.path, os.O_RDWR | os.O_CLOEXEC)

    def _give_fd(self, fd: int) -> None:
        with self._lock:
            self._free.append(fd)
