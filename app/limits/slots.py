"""Permit slots held as OFD byte-range locks on a file: crash-safe and readable.

Slot ``i`` of a limit is byte ``i`` of its slot file. Taking a permit locks one
free byte with F_OFD_SETLK through an open file description (OFD) used by no
other holder; the kernel drops the lock when the holder's process dies, so a
SIGKILLed worker gives its permits back. In-flight counts are read with
F_OFD_GETLK through a description that never holds a lock, without taking any.

The file's first 8 bytes, mapped into every process, hold the widest capacity any
holder has used. Slots at or above a capacity can only be held after a larger one was
used, so a holder whose capacity is the widest skips the check for them (one syscall of
three per permit); the widest only grows, under a lock on byte WIDEST_LOCK.
"""
from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading
from pathlib import Path

# struct flock: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid (+pad).
_FLOCK = "hhqqi4x"
_WIDEST_SIZE = 8  # one unsigned 64-bit integer, in the host's byte order
# A byte no slot reaches (capacities are bounded far below it): locked while widening.
WIDEST_LOCK = 1 << 40


def _lock_request(kind: int, slot: int, length: int = 1) -> bytes:
    # length 0: from ``slot`` to the end of the file, however far it grows.
    return struct.pack(_FLOCK, kind, os.SEEK_SET, slot, length, 0)


class Permit:
    """One held slot; release it exactly once."""

    __slots__ = ("_slots", "_fd", "slot")

    def __init__(self, slots: "SlotFile", fd: int, slot: int):
        self._slots, self._fd, self.slot = slots, fd, slot

    def release(self) -> None:
        fd = self._fd
        if fd is not None:
            self._fd = None
            self._slots.give_back(fd, self.slot)


class SlotFile:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._free: list[int] = []
        self._probe = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._pid = os.getpid()
        if os.fstat(self._probe).st_size < _WIDEST_SIZE:
            os.ftruncate(self._probe, _WIDEST_SIZE)  # zeros: no capacity used yet
        self._header = mmap.mmap(self._probe, _WIDEST_SIZE)
        # The widest as one item: read on every permit, at half the cost of a struct.
        self._widest = memoryview(self._header).cast("Q")
        self._widening = threading.Lock()

    def try_acquire(self, capacity: int) -> Permit | None:
        """A permit if fewer than ``capacity`` slots are held (by anyone), else None."""
        taken = self.take(capacity)
        return None if taken is None else Permit(*taken)

    def take(self, capacity: int) -> "tuple[SlotFile, int, int] | None":
        """``try_acquire`` without the Permit: (this file, description, slot), which
        ``give_back`` releases exactly once, or None.

        Whatever fails half-way (a capacity too large for a lock offset, an interrupted
        call), the slot taken so far is given back before the error leaves: a permit is
        never leaked, so a failed hold cannot fill the limit for good.
        """
        if capacity > WIDEST_LOCK:
            raise ValueError(f"a capacity of {capacity} is beyond any slot file")
        widest = self._widest[0]
        if widest < capacity:
            widest = self._widen(capacity)  # before any slot of this capacity is taken
        free = self._free
        try:  # _take_fd, inline: this runs for every step of every hold
            fd = free.pop()
        except IndexError:
            fd = self._take_fd()
        slot = None
        try:
            if capacity and _LOCKS:
                try:  # slot 0 first, without the search: free whenever the limit is idle
                    _fcntl(fd, _SETLK, _LOCKS[0])
                    slot = 0
                except _TAKEN:
                    slot = _lock_first_free(fd, capacity, 1)
            else:
                slot = _lock_first_free(fd, capacity)
            if slot is not None and widest > capacity and \
                    self._held(capacity, WIDEST_LOCK - capacity) and \
                    self.inflight() > capacity:
                # Slots at or above ``capacity`` were taken under a larger capacity that
                # has since been lowered: admit nothing new until enough are released.
                _unlock(fd, slot)
                slot = None
        except BaseException:
            if slot is not None:
                _unlock(fd, slot)
            free.append(fd)
            raise
        if slot is None:
            free.append(fd)
            return None
        return self, fd, slot

    def give_back(self, fd: int, slot: int) -> None:
        """Release a slot ``take`` gave (its unlock request was made when it was taken)."""
        _fcntl(fd, _SETLK, _UNLOCKS[slot])
        self._free.append(fd)

    def inflight(self) -> int:
        """How many slots are held right now, across every process (also any held above
        today's capacity, taken before it was lowered).

        Costs about two F_OFD_GETLK per held slot and one more, never one per slot of
        capacity, so a scrape costs the same for a limit of 5 and one of 10,000.
        """
        held = 0
        ranges = [(0, WIDEST_LOCK)]  # (start, length); length 0: to the end of the file
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

    def _widen(self, capacity: int) -> int:
        """Record ``capacity`` as the widest used (it is wider); returns the widest."""
        with self._widening:  # threads of this process share the one lock description
            fd = self._take_fd()
            try:
                fcntl.fcntl(fd, fcntl.F_OFD_SETLKW, _lock_request(fcntl.F_WRLCK, WIDEST_LOCK))
                try:
                    widest = self._widest[0]
                    if widest < capacity:
                        self._widest[0] = capacity
                        widest = capacity
                finally:
                    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _lock_request(fcntl.F_UNLCK, WIDEST_LOCK))
            finally:
                self._free.append(fd)
        return widest

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
        fds, self._free = self._free, []
        self._widest.release()  # the map cannot close while a view of it is held
        self._header.close()
        for fd in fds + [self._probe]:
            os.close(fd)

    def _take_fd(self) -> int:
        # list.pop and list.append are atomic under the GIL: the pool needs no lock.
        try:
            return self._free.pop()
        except IndexError:
            # A description of its own: locks through a shared one would not exclude
            # each other.
            return os.open(self.path, os.O_RDWR | os.O_CLOEXEC)


_fcntl, _SETLK = fcntl.fcntl, fcntl.F_OFD_SETLK
F_UNLCK, F_WRLCK = fcntl.F_UNLCK, fcntl.F_WRLCK
_TAKEN = (BlockingIOError, PermissionError)  # what F_OFD_SETLK raises on a held slot


def _lock_first_free(fd: int, capacity: int, first: int = 0) -> int | None:
    requests = _LOCKS
    if len(requests) < capacity or len(_UNLOCKS) < capacity:
        # A permit's release finds its unlock request made.
        _requests(_UNLOCKS, F_UNLCK, capacity)
        requests = _requests(_LOCKS, F_WRLCK, capacity)
    for slot in range(first, capacity):
        try:
            _fcntl(fd, _SETLK, requests[slot])
        except _TAKEN:
            continue
        return slot
    return None


def _unlock(fd: int, slot: int) -> None:
    _fcntl(fd, _SETLK, _requests(_UNLOCKS, F_UNLCK, slot + 1)[slot])


# The packed lock and unlock requests of slot 0, 1, ...: built once, not per call.
_LOCKS: list[bytes] = []
_UNLOCKS: list[bytes] = []


_GROWING = threading.Lock()


def _requests(cache: list[bytes], kind: int, count: int) -> list[bytes]:
    if len(cache) < count:
        with _GROWING:  # one grower at a time, so that entry i is always slot i's
            for slot in range(len(cache), count):
                cache.append(_lock_request(kind, slot))
    return cache
