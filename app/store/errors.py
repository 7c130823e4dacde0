"""Store failures, named so the API can answer them the same way everywhere."""
from __future__ import annotations

from ..errors import ApiError


class StoreUnavailable(ApiError):
    """The tenant store cannot be read or written right now (locked, read-only, down)."""

    def __init__(self, detail: str = ""):
        super().__init__(503, "store_unavailable", headers={"Retry-After": "1"})
        # The detail is for logs and readiness checks; clients only see the code.
        self.detail = detail

    def __str__(self) -> str:
        return self.detail or self.code
