"""The local limit backend: slot files shared by every worker process of one host."""
from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from .slots import Permit, SlotFile

GLOBAL_OWNER = "_global"


@dataclass
class SlotSemaphore:
    """A pair-compatible semaphore: one slot file with a capacity."""

    slots: SlotFile
    capacity: int

    def try_acquire(self) -> Permit | None:
        return self.slots.try_acquire(self.capacity)


class LocalBackend:
    def __init__(self, directory: str):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files: dict[tuple[str, str], SlotFile] = {}
        self._lock = threading.Lock()

    def semaphore(self, owner: str, limit: str, capacity: int) -> SlotSemaphore:
        return SlotSemaphore(self._file(owner, limit), capacity)

    def inflight(self, owner: str, limit: str, capacity: int) -> int:
        path = self.directory / owner / f"{limit}.slots"
        if not path.exists():
            return 0
        return self._file(owner, limit).inflight()

    def close(self) -> None:
        with self._lock:
            files, self._files = list(self._files.values()), {}
        for slot_file in files:
            slot_file.close()

    def remove(self) -> None:
        """Delete the slot files (server stop)."""
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)

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
