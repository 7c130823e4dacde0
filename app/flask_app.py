"""The Flask class of every Tenantgate app: Flask, with one per-request cost taken out."""
from __future__ import annotations

from typing import Callable

from flask import Flask

# Hooks, views and error handlers: a fixed set. after_this_request callbacks are made per
# request, so the cache is bounded all the same.
SYNC_CACHE_SIZE = 1024


class TenantgateFlask(Flask):
    """Flask asks ``ensure_sync`` for every hook of every request (eight for a tenant
    request), and each answer inspects the function's code flags; the answer for one
    function never changes, so it is remembered."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync: dict[Callable, Callable] = {}

    def ensure_sync(self, func: Callable) -> Callable:
        found = self._sync.get(func)
        if found is None:
            found = super().ensure_sync(func)
            if len(self._sync) >= SYNC_CACHE_SIZE:
                self._sync.clear()
            self._sync[func] = found  # keeps func alive: no other function takes its key
        return found
