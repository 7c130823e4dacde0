"""A whole permit chain on slot files (the local backend), taken in one call.

The steps are taken in the chain's order (tenant total, tenant role, global total,
global role) and released in reverse, as the pair does; the chain only spares each
step the pair's per-step objects and calls. If a step is full, the steps taken before
it are given back in the same call and the full step is named: with
LIMIT_WAIT_SECONDS > 0 the whole chain is retried (whole_chain.py), so a request
waiting for a global permit does not sit on its tenant's, as on the fleet backend.

The common step (a description free in the pool, the limit's widest capacity its own,
so no check for slots above it) is ``SlotFile.take`` inline: slot 0 first, then the
others in order. Anything else is ``take`` itself. Every limited request runs this, and
the calls it spares are a tenth of a hold.
"""
from __future__ import annotations

from typing import Sequence

from .pair import Step
from .slots import _LOCKS, _SETLK, _TAKEN, _UNLOCKS, F_UNLCK, F_WRLCK, WIDEST_LOCK, \
    _fcntl, _lock_first_free, _requests

# (the slot file's free descriptors, a descriptor, its unlock request): one held step.
Held = tuple[list, int, bytes]


class LocalChain:
    __slots__ = ("_parts",)

    def __init__(self, steps: Sequence[Step]):
        # Per step, made once: the slot file, its pool of descriptors and widest capacity,
        # the step's capacity, whether the inline take may serve it, the step.
        parts = []
        for step in steps:
            slots, capacity = step.semaphore.slots, step.semaphore.capacity
            parts.append((slots, slots._free, slots._widest, capacity,
                          0 < capacity <= WIDEST_LOCK, step))
        self._parts = tuple(parts)
        _requests(_LOCKS, F_WRLCK, 1)  # slot 0's requests, read below
        _requests(_UNLOCKS, F_UNLCK, 1)

    def try_acquire(self) -> "tuple[ChainPermit | None, Step | None]":
        held: list[Held] = []
        lock_first = _LOCKS[0]
        try:
            for slots, free, widest, capacity, inline, step in self._parts:
                if inline and free and widest[0] == capacity:
                    try:
                        fd = free.pop()
                    except IndexError:  # another thread took the last one meanwhile
                        pass
                    else:
                        try:
                            try:
                                _fcntl(fd, _SETLK, lock_first)
                                slot = 0
                            except _TAKEN:
                                slot = _lock_first_free(fd, capacity, 1)
                        except BaseException:
                            free.append(fd)
                            raise
                        if slot is None:
                            free.append(fd)
                            _give_back(held)
                            return None, step
                        held.append((free, fd, _UNLOCKS[slot]))
                        continue
                taken = slots.take(capacity)
                if taken is None:
                    _give_back(held)
                    return None, step
                held.append((free, taken[1], _UNLOCKS[taken[2]]))
        except BaseException:
            _give_back(held)  # nothing of a failed attempt stays held
            raise
        return ChainPermit(held), None


class ChainPermit:
    """Every step's slot of one hold; release it exactly once."""

    __slots__ = ("_held",)

    def __init__(self, held: list[Held]):
        self._held = held

    def release(self) -> None:
        held, self._held = self._held, []
        _give_back(held)


def _give_back(held: list[Held]) -> None:
    """Release ``held`` in reverse, emptying it (``SlotFile.give_back`` of each, inline)."""
    while held:
        free, fd, unlock = held.pop()
        _fcntl(fd, _SETLK, unlock)
        free.append(fd)
