"""The cyclic garbage collector paused while a scrape builds its text.

A scrape over 1,000 tenants allocates some 100,000 objects (rows, lines) that live until
its text is joined. Allocations that survive are what drives CPython's collector: every
700 a young collection, every tenth of those an older one, and now and then a full
collection that walks every object of the worker (its tenants, its caches), tens of
milliseconds charged to whichever scrape triggered it. A scrape makes no reference
cycles worth collecting: what it allocates is freed by reference counting when it ends,
which also takes back the allocation counts, so pausing the collector for its duration
defers nothing. Scrapes may overlap: the collector resumes when the last one ends, and
only if it was running when the first began.
"""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_pausing = 0  # scrapes in progress
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _pausing, _was_enabled
    with _lock:
        if _pausing == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _lock:
            _pausing -= 1
            if _pausing == 0 and _was_enabled:
                gc.enable()
