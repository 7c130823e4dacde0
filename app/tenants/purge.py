"""Purging a tenant removes its directories with its record: purged means gone.

Otherwise a tenant created again with the same id, or a new tenant pointed at the same
directories, served the old one's uploads. Only what lies inside TENANT_DATA_ROOT (never
the root itself) and overlaps no other tenant's directory is removed.

Crash-safe in three steps. Inside the store transaction that deletes the record, each
directory is renamed into ``<root>/.purged-<tenant>-<random>/`` beside an ``origin.json``
saying where it came from. When the deletion commits, that directory is deleted; when it
rolls back, everything is renamed back. A crash in between leaves a ``.purged-*``
directory, which ``recover`` (run once at server start, before any worker) deletes when
the record is gone, or renames back when the record (the same creation) is still there.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..store import Store, TenantRecord
from ..store.tenants import directories_overlap
from .paths import QUARANTINE_PREFIX, data_root

log = logging.getLogger(__name__)

ORIGIN = "origin.json"


class PurgeFailed(Exception):
    """A directory of the purged tenant could not be moved aside; nothing was changed."""


@dataclass
class Quarantine:
    """A purged tenant's directories, moved aside until its deletion commits."""

    root: Path
    path: Path
    moved: list[tuple[str, str]] = field(default_factory=list)  # (original, name inside)

    @property
    def originals(self) -> list[str]:
        return [original for original, _ in self.moved]

    def restore(self) -> None:
        """Rename each directory back. One that cannot go back (something took its place,
        a failing disk) stays here, logged, for ``recover`` at the next start."""
        stuck = []
        for original, name in self.moved:
            inside = self.path / name
            try:
                if os.path.lexists(inside):
                    os.rename(inside, original)  # fails where something took its place
            except OSError as exc:
                log.error("purge rolled back but %s stays in %s: %s", original, self.path,
                          exc.strerror or exc)
                stuck.append(original)
        if not stuck:
            shutil.rmtree(self.path, ignore_errors=True)  # origin.json only: nothing of value
        _sync_parents(self.originals)

    def remove(self) -> None:
        """Delete the directories for good (the purge committed)."""
        # ignore_errors: a file that cannot go now (a busy mount) goes at the next start.
        shutil.rmtree(self.path, ignore_errors=True)
        for parent in dict.fromkeys(Path(original).parent for original in self.originals):
            if parent == self.root:
                continue
            try:
                os.rmdir(parent)  # <root>/<tenant>/, left empty
            except OSError:
                pass  # not empty (it holds someone else's), or gone already: it stays


def purge_tenant(store: Store, root: str, tenant_id: str, actor: str) -> list[str] | None:
    """Delete the tenant's record and its own directories; the directories removed, or
    None when there is no such tenant. Raises PurgeFailed, having changed nothing, when
    a directory cannot be moved aside."""
    with store.db.write():  # joins the admin request's transaction, if any
        record = store.tenants.get(tenant_id)
        if record is None:
            return None
        others = [r for r in store.tenants.list() if r.tenant_id != tenant_id]
        # The record first: a store that cannot be written refuses here, before any
        # directory is touched. (A write-protected SQLite file is opened read-only, and
        # then BEGIN IMMEDIATE excludes nobody: only a write tells.)
        store.tenants.purge(tenant_id)
        store.audit.record("purge", tenant_id, [], actor)
        quarantine = _move_aside(data_root(root), record, others)
        store.db.on_rollback(quarantine.restore)
        store.db.on_commit(quarantine.remove)
    return quarantine.originals


def own_directories(root: Path, record: TenantRecord, others: list[TenantRecord]) -> list[Path]:
    """The tenant's directories that purging removes: inside the root, shared with nobody."""
    found = []
    for directory in dict.fromkeys((record.data_dir, record.uploads_dir)):
        path = Path(directory)
        if path == root or not path.is_relative_to(root) or not os.path.lexists(path):
            continue
        if any(directories_overlap(directory, theirs) for other in others
               for theirs in (other.data_dir, other.uploads_dir)):
            continue
        if any(path.is_relative_to(kept) for kept in found):
            continue  # inside one already taken
        found.append(path)
    return found


def _move_aside(root: Path, record: TenantRecord, others: list[TenantRecord]) -> Quarantine:
    quarantine = Quarantine(root, root / f"{QUARANTINE_PREFIX}{record.tenant_id}-"
                                         f"{uuid.uuid4().hex}")
    directories = own_directories(root, record, others)
    planned = [(str(path), f"{index}-{path.name}") for index, path in enumerate(directories)]
    try:
        quarantine.path.mkdir()
        _write_origin(quarantine.path, record, planned)
        for original, name in planned:
            os.rename(original, quarantine.path / name)
            quarantine.moved.append((original, name))
        # The renames are on disk before the deletion commits: after a power loss the
        # directories are where recover() expects them.
        _sync_parents([str(quarantine.path / name) for _, name in planned] + quarantine.originals)
    except OSError as exc:
        quarantine.restore()
        raise PurgeFailed(f"cannot move {record.tenant_id}'s directories aside: "
                          f"{exc.strerror or exc}") from None
    return quarantine


def _write_origin(path: Path, record: TenantRecord, planned: list[tuple[str, str]]) -> None:
    origin = {"tenant_id": record.tenant_id, "created_at": record.created_at,
              "moved": planned}
    with open(path / ORIGIN, "w", encoding="utf-8") as handle:
        json.dump(origin, handle)
        handle.flush()
        os.fsync(handle.fileno())


def recover(store: Store, root: str) -> None:
    """Finish or undo the purges a crash interrupted (server start, before any worker)."""
    base = data_root(root)
    if not base.is_dir():
        return
    for path in sorted(base.glob(f"{QUARANTINE_PREFIX}*")):
        try:
            origin = json.loads((path / ORIGIN).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            origin = None  # crashed before origin.json was written: nothing was moved
        record = store.tenants.get(origin["tenant_id"]) if origin else None
        moved = [(str(m[0]), str(m[1])) for m in origin["moved"]] if origin else []
        quarantine = Quarantine(base, path, moved)
        if record is not None and record.created_at == origin["created_at"]:
            log.warning("tenant %s: purge did not commit; directories put back",
                        record.tenant_id)
            quarantine.restore()
        else:
            quarantine.remove()


def _sync_parents(paths: list[str]) -> None:
    for parent in dict.fromkeys(str(Path(p).parent) for p in paths):
        try:
            fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
