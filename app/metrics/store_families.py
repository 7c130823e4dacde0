"""Families read from the store alone, kept until the store changes.

Most tenant series are a function of the store's rows (and of settings, fixed for a
process): with 1,000 tenants, reading and rendering them again at every scrape is most
of a scrape. A collector keeps what it built from the store with the store's data
version (``Store.data_version``), read *before* the rows, and builds again as soon as it
moved: any commit by any worker moves it, so a scrape never serves a value older than
the last commit before it. What does not come from the store alone (permits held now,
free disk space, anything computed from the clock) is never kept. Without a data
version (PostgreSQL: other hosts' commits leave no trace here) nothing is kept.
"""
from __future__ import annotations

from typing import Callable, Iterable, TypeVar

from ..store import Store

T = TypeVar("T")


class StoreFamilies:
    """One collector's store-only families (or rows), as of the store's latest data
    version."""

    def __init__(self, store: Store):
        self._store = store
        self._kept: tuple[object, list] | None = None

    def get(self, build: Callable[[], Iterable[T]]) -> list[T]:
        """``list(build())``, or what it returned last while the store has not changed;
        ``build`` may read only the store (whatever it writes first must be written
        before this is called)."""
        version = self._store.data_version()  # before the rows: a later commit is missed
        kept = self._kept                     # by neither this scrape nor the next one
        if version is not None and kept is not None and kept[0] == version:
            return kept[1]
        families = list(build())
        if version is not None:
            self._kept = (version, families)
        return families
