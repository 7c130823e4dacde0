"""Admin concern: the /admin/tenants API, its CLI twin, and an HTTP client for scripts."""
from .cli import tenants_cli
from .views import blp

__all__ = ["blp", "tenants_cli"]
