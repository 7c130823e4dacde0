"""The local limit backend: slot files shared by every worker process of one host."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from functools import partial
from pathlib import Path
from typing import Callable

from .local_chain import LocalChain
from .pair import Step
from .slots import Permit, SlotFile

GLOBAL_OWNER = "_global"


class SlotSemaphore:
    """A pair-compatible semaphore: one slot file with a capacity."""

    __slots__ = ("slots", "capacity", "try_acquire")

    def __init__(self, slots: SlotFile, capacity: int):
        self.slots, self.capacity = slots, capacity
        # Bound once: each step of a hold calls the slot file with no frame in between.
        self.try_acquire: Callable[[], Permit | None] = partial(slots.try_acquire, capacity)

    def __repr__(self) -> str:
        return f"SlotSemaphore({self.slots.path}, capacity={self.capacity})"


class LocalBackend:
    def __init__(self, directory: str | None):
        """Slot files under ``directory`` (LIMIT_STATE_DIR, shared by a server's workers).

        None: one process alone (the flask CLI, tests) gets a private temporary directory,
        made on first use, so a CLI run that takes no permit leaves nothing behind, and
        deleted by ``close``.
        """
        self._directory = None if directory is None else Path(directory)
        self._private = directory is None
        if self._directory is not None:
            self._directory.mkdir(parents=True, exist_ok=True)
        self._files: dict[tuple[str, str], SlotFile] = {}
        self._lock = threading.Lock()
        self._directory_lock = threading.Lock()  # taken inside _lock (in _file)

    @property
    def directory(self) -> Path:
        with self._directory_lock:
            if self._directory is None:
                self._directory = Path(tempfile.mkdtemp(prefix="tenantgate-limits-"))
            return self._directory

    def semaphore(self, owner: str, limit: str, capacity: int) -> SlotSemaphore:
        return SlotSemaphore(self._file(owner, limit), capacity)

    def chain(self, steps: list[Step]) -> LocalChain:
        """The steps (made by ``semaphore``) as one chain the Limiter takes in one call."""
        return LocalChain(steps)

    def inflight(self, owner: str, limit: str, capacity: int) -> int:
        if self._directory is None:
            return 0  # nothing was ever taken here
        path = self._directory / owner / f"{limit}.slots"
        if not path.exists():
            return 0
        return self._file(owner, limit).inflight()

    def inflight_many(self, wanted: list[tuple[str, str, int]]) -> list[int]:
        """``inflight`` of each (owner, limit, capacity), for a scrape: the slot files that
        exist are listed once, instead of one lookup per limit of every tenant (most
        tenants never took a permit of most limits)."""
        if self._directory is None:
            return [0] * len(wanted)
        directory = str(self._directory)
        try:
            # The owners that ever took a permit: one listing, not one lookup per tenant.
            owners = set(os.listdir(directory)) & {owner for owner, _, _ in wanted}
        except FileNotFoundError:
            owners = set()
        existing: dict[str, set[str]] = {}
        for owner in owners:
            try:
                existing[owner] = set(os.listdir(os.path.join(directory, owner)))
            except (FileNotFoundError, NotADirectoryError):
                existing[owner] = set()
        empty: set[str] = set()
        return [self._file(owner, limit).inflight()
                if f"{limit}.slots" in existing.get(owner, empty) else 0
                for owner, limit, _ in wanted]

    def close(self) -> None:
        with self._lock:
            files, self._files = list(self._files.values()), {}
        for slot_file in files:
            slot_file.close()
        if self._private and self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def remove(self) -> None:
        """Close, and delete the slot files even of a shared directory."""
        directory = self._directory
        self.close()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def _file(self, owner: str, limit: str) -> SlotFile:
        key = (owner, limit)
        slot_file = self._files.get(key)
        if slot_file is None:
            with self._lock:
                slot_file = self._files.get(key)
                if slot_file is None:
                    slot_file = SlotFile(self.directory / owner / f"{limit}.slots")
                    self._files[key] = slot_file
        return slot_file
