"""A whole permit chain on slot files (the local backend), taken in one call.

The steps are taken in the chain's order (tenant total, tenant role, global total,
global role) and released in reverse, as the pair does; the chain only spares each
step the pair's per-step objects and calls. If a step is full, the steps taken before
it are given back in the same call and the full step is named: with
LIMIT_WAIT_SECONDS > 0 the whole chain is retried (whole_chain.py), so a request
waiting for a global permit does not sit on its tenant's, as on the fleet backend.
"""
from __future__ import annotations

from typing import Sequence

from .pair import Step
from .slots import SlotFile


class LocalChain:
    __slots__ = ("_parts",)

    def __init__(self, steps: Sequence[Step]):
        # (take, capacity, step) per step, in the order they are taken; the slot file's
        # bound method made once, not on every attempt.
        self._parts = tuple((step.semaphore.slots.take, step.semaphore.capacity, step)
                            for step in steps)

    def try_acquire(self) -> "tuple[ChainPermit | None, Step | None]":
        held: list[tuple[SlotFile, int, int]] = []
        try:
            for take, capacity, step in self._parts:
                taken = take(capacity)
                if taken is None:
                    _give_back(held)
                    return None, step
                held.append(taken)
        except BaseException:
            _give_back(held)  # nothing of a failed attempt stays held
            raise
        return ChainPermit(held), None


class ChainPermit:
    """Every step's slot of one hold; release it exactly once."""

    __slots__ = ("_held",)

    def __init__(self, held: list[tuple[SlotFile, int, int]]):
        self._held = held

    def release(self) -> None:
        held, self._held = self._held, []
        _give_back(held)


def _give_back(held: list[tuple[SlotFile, int, int]]) -> None:
    """Release ``held`` in reverse, emptying it."""
    while held:
        slots, fd, slot = held.pop()
        slots.give_back(fd, slot)
