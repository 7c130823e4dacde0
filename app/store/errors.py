"""Store failures, named for what happened; app/errors.py says how each is answered."""
from __future__ import annotations


class StoreUnavailable(Exception):
    """The tenant store cannot be read or written right now (locked, read-only, down).

    The message is for logs and readiness checks; clients only see the error code.
    """
