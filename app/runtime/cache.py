"""A per-tenant cache whose keys are namespaced ``<tenant>:<workspace>:<key>``."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from .context import TenantContext, current_tenant


class CrossTenantKeyError(PermissionError):
    """A key from another tenant's namespace was offered to this tenant's cache."""


class NamespacedCache:
    def __init__(self, tenant: str, max_entries: int = 1024):
        self.tenant = tenant
        self._max = max_entries
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, key: str, context: TenantContext | None = None) -> str:
        """The namespaced form of ``key`` in the current (or given) context."""
        context = context or current_tenant("cache")
        if context.tenant != self.tenant:
            raise CrossTenantKeyError(f"context tenant {context.tenant} is not {self.tenant}")
        return f"{context.namespace()}{key}"

    def check(self, namespaced: str) -> str:
        if not namespaced.startswith(f"{self.tenant}:") or namespaced.count(":") < 2:
            raise CrossTenantKeyError("key is outside this tenant's namespace")
        return namespaced

    def get(self, key: str, default: Any = None) -> Any:
        return self.get_namespaced(self.key(key), default)

    def set(self, key: str, value: Any) -> None:
        self.set_namespaced(self.key(key), value)

    def get_namespaced(self, namespaced: str, default: Any = None) -> Any:
        self.check(namespaced)
        with self._lock:
            if namespaced not in self._data:
                return default
            self._data.move_to_end(namespaced)
            return self._data[namespaced]

    def set_namespaced(self, namespaced: str, value: Any) -> None:
        self.check(namespaced)
        with self._lock:
            self._data[namespaced] = value
            self._data.move_to_end(namespaced)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
