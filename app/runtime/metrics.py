"""Upload and storage metrics, rendered from the store and the file system at every scrape."""
from __future__ import annotations

import logging
from typing import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from ..metrics.store_families import StoreFamilies
from ..metrics.text_family import TextFamily
from ..settings import Settings
from ..store import Store
from ..store.health import STATES
from .upload_intake import free_bytes

log = logging.getLogger(__name__)


class UploadCollector:
    """A scrape-time collector (``collect()``), as prometheus_client's collectors are."""

    def __init__(self, store: Store, settings: Settings):
        self._store = store
        self._settings = settings
        self._kept = StoreFamilies(store)

    def collect(self) -> Iterable[Metric]:
        yield from self._storage()
        yield from self._kept.get(self._tenant_families)

    def _tenant_families(self) -> Iterable[Metric]:
        records = self._store.labelled_tenants(self._settings.max_tenant_labels)
        held = self._store.uploads.bytes_by_tenant(r.tenant_id for r in records)
        used = TextFamily("tenant_upload_bytes",
                          "Bytes of uploads a tenant holds (what its quota counts)", "gauge",
                          ["tenant"])
        quota = TextFamily("tenant_upload_quota_bytes", "A tenant's upload quota in bytes",
                           "gauge", ["tenant"])
        default = self._settings.tenant_upload_quota_bytes
        used.extend(((r.tenant_id,), held.get(r.tenant_id, 0)) for r in records)
        quota.extend(((r.tenant_id,), r.quota.get("upload_bytes", default)) for r in records)
        yield used
        yield quota

    def _storage(self) -> Iterable[Metric]:
        reserve = GaugeMetricFamily(
            "storage_reserve_bytes",
            "STORAGE_RESERVE_BYTES: free space uploads never eat into")
        reserve.add_metric([], self._settings.storage_reserve_bytes)
        yield reserve
        try:
            free = free_bytes(self._settings.data_root)
        except OSError as exc:  # no data root yet (no tenant ever created): nothing to say
            log.debug("storage metrics: %s", exc)
            return
        family = GaugeMetricFamily(
            "storage_free_bytes", "Free bytes on the file system of TENANT_DATA_ROOT")
        family.add_metric([], free)
        yield family


class HealthStateCollector:
    """``tenant_health_state{tenant, state}``: 1 for each tenant's current health state, 0
    for the others, from the store at every scrape (the same on every worker and host)."""

    def __init__(self, store: Store, settings: Settings):
        self._store = store
        self._settings = settings
        self._kept: tuple[object, list[Metric]] = (None, [])

    def collect(self) -> Iterable[Metric]:
        # The labelled tenants are the same list until tenant state changes (every change
        # of a health state moves the config version): the family is theirs alone, so it
        # is kept with them, through commits that touch nothing of theirs.
        records = self._store.labelled_tenants(self._settings.max_tenant_labels)
        if self._kept[0] is not records:
            self._kept = (records, [self._family(records)])
        return self._kept[1]

    def _family(self, records) -> Metric:
        family = TextFamily("tenant_health_state",
                            "A tenant's health state: 1 for the current one", "gauge",
                            ["tenant", "state"])
        family.extend(((record.tenant_id, state), int(record.health == state))
                      for record in records for state in STATES)
        return family
