"""Settings: every environment variable Tenantgate reads, coerced and validated in one place.

Nothing else in the package reads ``os.environ``. A bad value raises
``SettingsError`` naming the variable; entry points print that one line and exit.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping

TENANT_ID_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

# Server-wide concurrency limits (GLOBAL_LIMIT_<NAME>); see docs/limits.md.
DEFAULT_GLOBAL_LIMITS = {"llm_total": 100, "llm_student": 50, "llm_teacher": 80, "ocr": 20}
# Per-tenant defaults (contract sec. 6); a tenant's config may override each.
DEFAULT_TENANT_LIMITS = {"llm_total": 30, "llm_student": 2, "llm_teacher": 10, "ocr": 5}


class SettingsError(ValueError):
    """A setting has a value Tenantgate cannot start with."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


@dataclass(frozen=True)
class Settings:
    db_path: str = "data/_system/tenants.sqlite3"
    db_url: str | None = None
    data_root: str = "data/tenants"
    # Served by un-prefixed tenant routes, registered at server start (contract sec. 11);
    # None (DEFAULT_TENANT set empty): no default tenant.
    default_tenant: str | None = "default"
    admin_keys: tuple[str, ...] = ()
    api_keys: tuple[str, ...] = ()
    max_tenant_labels: int = 100
    tenant_readiness_histogram: bool = False
    tenancy_strict: bool = False
    global_limits: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_GLOBAL_LIMITS))
    limit_wait_seconds: float = 0.0
    limit_backend: str = "local"
    chaos_enabled: bool = False
    multiproc_dir: str | None = None
    max_json_bytes: int = 1024 * 1024
    max_upload_bytes: int = 10 * 1024 * 1024
    shutdown_drain_seconds: float = 5.0
    validator_timeout_seconds: float = 5.0
    # Fleet-wide rechecks of every loaded tenant (contract sec. 12): 0 turns them off.
    recheck_seconds: float = 60.0
    recheck_max_seconds: float = 600.0
    limit_state_dir: str | None = None
    max_limits_per_tenant: int = 16
    request_threads: int = 8
    tenant_max_thread_share: float = 0.5
    # Uploads (contract sec. 17): default quota, the free space they never eat into, age.
    tenant_upload_quota_bytes: int = 1 << 30
    tenant_upload_quota_count: int = 10_000
    storage_reserve_bytes: int = 256 << 20
    upload_retention_days: int = 0
    # Durable tenant jobs (contract sec. 13).
    lease_seconds: float = 30.0
    job_max_attempts: int = 5
    job_runner_threads: int = 2
    job_retry_seconds: float = 1.0
    job_poll_seconds: float = 0.5
    # The example LLM routes' price table: model -> USD per million prompt characters.
    llm_prices: Mapping[str, Decimal] = field(default_factory=dict)
    # Audit entries are kept this many days (contract sec. 15); 0 keeps them for ever.
    audit_retention_days: int = 90

    @property
    def tenant_thread_share(self) -> int:
        """Request threads of one worker that one tenant may hold at once (at least one)."""
        return max(1, int(self.request_threads * self.tenant_max_thread_share))


def _text(name: str, raw: str) -> str:
    if not raw.strip():
        raise SettingsError(name, "must not be empty")
    return raw.strip()


def _int(minimum: int, maximum: int | None = None) -> Callable[[str, str], int]:
    def coerce(name: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise SettingsError(name, f"must be an integer, got {raw!r}") from None
        if value < minimum:
            raise SettingsError(name, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise SettingsError(name, f"must be at most {maximum}, got {value}")
        return value
    return coerce


def _float(name: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(name, f"must be a number of seconds, got {raw!r}") from None
    if not value >= 0 or value == float("inf"):
        raise SettingsError(name, f"must be a finite number >= 0, got {raw!r}")
    return value


def _positive(name: str, raw: str) -> float:
    value = _float(name, raw)
    if value == 0:
        raise SettingsError(name, "must be more than 0 seconds")
    return value


def _share(name: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(name, f"must be a number, got {raw!r}") from None
    if not 0 < value <= 1:
        raise SettingsError(name, f"must be a share in (0, 1], got {raw!r}")
    return value


def _flag(name: str, raw: str) -> bool:
    value = raw.strip()
    if value not in ("0", "1"):
        raise SettingsError(name, f"must be 0 or 1, got {raw!r}")
    return value == "1"


def _keys(name: str, raw: str) -> tuple[str, ...]:
    # Comma-separated so an operator can rotate: add the new key, deploy, drop the old one.
    return tuple(k.strip() for k in raw.split(",") if k.strip())


def _prices(name: str, raw: str) -> dict[str, Decimal]:
    prices: dict[str, Decimal] = {}
    for pair in (p.strip() for p in raw.split(",") if p.strip()):
        model, sep, text = pair.partition("=")
        try:
            price = Decimal(text.strip())
        except InvalidOperation:
            price = None
        if not sep or not model.strip() or price is None or not price.is_finite() \
                or not 0 <= price <= 1_000_000:
            raise SettingsError(name, "must be model=USD per million characters, "
                                      f"comma-separated, got {pair!r}")
        prices[model.strip()] = price
    return prices


def _tenant_id(name: str, raw: str) -> str | None:
    if raw == "":
        return None
    if not TENANT_ID_PATTERN.fullmatch(raw):
        raise SettingsError(name, f"must be a tenant id (a DNS label), got {raw!r}")
    return raw


def _db_url(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not value.startswith(("postgresql://", "postgres://")):
        raise SettingsError(name, "must start with postgresql:// (or be unset for SQLite)")
    return value


def _limit_backend(name: str, raw: str) -> str:
    value = raw.strip()
    if value not in ("local", "postgres"):
        raise SettingsError(name, f"must be 'local' or 'postgres', got {raw!r}")
    return value


# environment variable -> (Settings field, coercer)
_FIELDS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "TENANT_DB_PATH": ("db_path", _text),
    "TENANT_DB_URL": ("db_url", _db_url),
    "TENANT_DATA_ROOT": ("data_root", _text),
    "DEFAULT_TENANT": ("default_tenant", _tenant_id),
    "TENANT_ADMIN_KEY": ("admin_keys", _keys),
    "TENANT_API_KEY": ("api_keys", _keys),
    "MAX_TENANT_LABELS": ("max_tenant_labels", _int(1)),
    "TENANT_READINESS_HISTOGRAM": ("tenant_readiness_histogram", _flag),
    "ENABLE_TENANCY_STRICT": ("tenancy_strict", _flag),
    "LIMIT_WAIT_SECONDS": ("limit_wait_seconds", _float),
    "LIMIT_BACKEND": ("limit_backend", _limit_backend),
    "CHAOS_ENABLED": ("chaos_enabled", _flag),
    "PROMETHEUS_MULTIPROC_DIR": ("multiproc_dir", _text),
    "MAX_JSON_BYTES": ("max_json_bytes", _int(1024)),
    "MAX_UPLOAD_BYTES": ("max_upload_bytes", _int(1024)),
    "SHUTDOWN_DRAIN_SECONDS": ("shutdown_drain_seconds", _float),
    "VALIDATOR_TIMEOUT_SECONDS": ("validator_timeout_seconds", _float),
    "RECHECK_SECONDS": ("recheck_seconds", _float),
    "RECHECK_MAX_SECONDS": ("recheck_max_seconds", _float),
    "LIMIT_STATE_DIR": ("limit_state_dir", _text),
    # The defaults (DEFAULT_TENANT_LIMITS) are limits of every tenant: they must fit.
    "MAX_LIMITS_PER_TENANT": ("max_limits_per_tenant", _int(len(DEFAULT_TENANT_LIMITS))),
    # gunicorn's threads per worker: the per-tenant thread share is a part of them.
    "GUNICORN_THREADS": ("request_threads", _int(1)),
    "TENANT_MAX_THREAD_SHARE": ("tenant_max_thread_share", _share),
    "TENANT_UPLOAD_QUOTA_BYTES": ("tenant_upload_quota_bytes", _int(0)),
    "TENANT_UPLOAD_QUOTA_COUNT": ("tenant_upload_quota_count", _int(0)),
    "STORAGE_RESERVE_BYTES": ("storage_reserve_bytes", _int(0)),
    "UPLOAD_RETENTION_DAYS": ("upload_retention_days", _int(0)),
    "LEASE_SECONDS": ("lease_seconds", _positive),
    "JOB_MAX_ATTEMPTS": ("job_max_attempts", _int(1)),
    "JOB_RUNNER_THREADS": ("job_runner_threads", _int(1)),
    "JOB_RETRY_SECONDS": ("job_retry_seconds", _float),
    "JOB_POLL_SECONDS": ("job_poll_seconds", _positive),
    "LLM_PRICES": ("llm_prices", _prices),
    # At most a century: a date that far back is still a date.
    "AUDIT_RETENTION_DAYS": ("audit_retention_days", _int(0, 36500)),
}

SETTING_NAMES = frozenset(_FIELDS)
# Set but empty means "none" for these (no key, SQLite, no default tenant), not the default.
EMPTY_MEANS_NONE = ("admin_keys", "api_keys", "db_url", "default_tenant")
GLOBAL_LIMIT_PREFIX = "GLOBAL_LIMIT_"


def _global_limits(source: Mapping[str, str]) -> dict[str, int]:
    limits = dict(DEFAULT_GLOBAL_LIMITS)
    for name, raw in source.items():
        if not name.startswith(GLOBAL_LIMIT_PREFIX):
            continue
        limit = name[len(GLOBAL_LIMIT_PREFIX):].lower()
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", limit):
            raise SettingsError(name, "limit names are letters, digits and underscores")
        limits[limit] = _int(1)(name, raw)
    return limits


def secret_values(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The configured keys, for log redaction; readable even when another setting is bad."""
    source = os.environ if environ is None else environ
    return tuple(key for name in ("TENANT_ADMIN_KEY", "TENANT_API_KEY")
                 for key in _keys(name, source.get(name, "")))


def is_setting(name: str) -> bool:
    return name in SETTING_NAMES or name.startswith(GLOBAL_LIMIT_PREFIX)


def load_settings(environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build Settings from the environment, with ``overrides`` (same names) taking precedence."""
    source: dict[str, str] = dict(os.environ if environ is None else environ)
    for name, value in (overrides or {}).items():
        if is_setting(name):
            source[name] = ",".join(value) if isinstance(value, (list, tuple)) else str(value)
    values: dict[str, Any] = {}
    for name, (attr, coerce) in _FIELDS.items():
        raw = source.get(name)
        if raw is None or (raw == "" and attr not in EMPTY_MEANS_NONE):
            continue
        values[attr] = coerce(name, raw)
    values["global_limits"] = _global_limits(source)
    settings = Settings(**values)
    if settings.limit_backend == "postgres" and not settings.db_url:
        raise SettingsError("LIMIT_BACKEND", "'postgres' needs TENANT_DB_URL (the shared store)")
    return settings


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) -> (host, port); ValueError when malformed."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


def _address(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None  # empty: the listener is off
    try:
        _, port = parse_address(value)
    except ValueError:
        port = 0
    if port == 0:  # 0 would be a port nobody could point a probe at
        raise SettingsError(name, f"must be host:port (or empty for off), got {raw!r}")
    return value


@dataclass(frozen=True)
class ServerSettings:
    """gunicorn's own knobs and the management listener (read by config/gunicorn.conf.py)."""

    bind: str = "127.0.0.1:8000"
    workers: int = 2
    threads: int = 8
    # Probes and metrics on threads of their own (contract sec. 17); None: off.
    management_bind: str | None = "127.0.0.1:9180"
    management_threads: int = 2


_SERVER_FIELDS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "BIND": ("bind", _text),
    "WEB_CONCURRENCY": ("workers", _int(1)),
    "GUNICORN_THREADS": ("threads", _int(1)),
    "MANAGEMENT_BIND": ("management_bind", _address),
    "MANAGEMENT_THREADS": ("management_threads", _int(1)),
}
# Set but empty still means something for these: "off".
_EMPTY_MEANS_OFF = {"MANAGEMENT_BIND"}


def load_server_settings(environ: Mapping[str, str] | None = None) -> ServerSettings:
    source = os.environ if environ is None else environ
    values = {attr: coerce(name, source[name])
              for name, (attr, coerce) in _SERVER_FIELDS.items()
              if source.get(name) or (name in _EMPTY_MEANS_OFF and name in source)}
    return ServerSettings(**values)
