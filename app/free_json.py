"""Free JSON (a tenant's ``extra``, an exam manifest): bounded in size and depth.

Deeply nested values parse fine but break what comes after: copying a record, rendering
a response, listing every tenant (RecursionError). So free JSON is refused above the
bounds before it is written, and a manifest above them is not served.
"""
from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32  # levels of objects and arrays, the outermost one included
MAX_BYTES = 64 * 1024  # serialised as the store keeps it


def depth(value: Any, stop_above: int = MAX_DEPTH) -> int:
    """Levels of nested objects and arrays (a scalar is 0); counting stops above ``stop_above``."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        children = item.values() if isinstance(item, dict) else \
            item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > stop_above:
            return deepest
        pending.extend((child, level + 1) for child in children)
    return deepest


def problem(value: Any, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> str | None:
    """Why ``value`` is over the bounds, or None when it is within them."""
    if depth(value, max_depth) > max_depth:
        return f"Must be at most {max_depth} levels deep."
    if len(json.dumps(value, sort_keys=True).encode()) > max_bytes:
        return f"Must be at most {max_bytes} bytes as JSON."
    return None
