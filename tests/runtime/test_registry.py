"""TenantRegistry on its own: lazy builds and registration, with real threads."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.runtime.health import DISABLED, HEALTHY
from app.runtime.registry import (TenantNotFound, TenantPending, TenantRegistry,
                                  TenantUnavailable)
from tests.runtime.registry_doubles import WAIT, Factory


def test_concurrent_first_hits_build_a_lazy_tenant_once_and_share_its_runtime(registry):
    factory = Factory(gate=threading.Event())
    registry.register("acme", factory)
    barrier = threading.Barrier(32)

    def first_hit():
        barrier.wait(WAIT)
        return registry.resolve("acme")

    with ThreadPoolExecutor(32) as pool:
        futures = [pool.submit(first_hit) for _ in range(32)]
        assert factory.entered.wait(WAIT)
        factory.gate.set()
        runtimes = [f.result(WAIT) for f in futures]
    assert factory.calls == 1
    assert all(runtime is factory.built[0] for runtime in runtimes)
    assert registry.health("acme") == HEALTHY


def test_a_resolve_waiting_longer_than_the_build_wait_is_answered_pending(sink):
    registry = TenantRegistry(health_sink=lambda *state: sink.append(state), build_wait=0.1)
    factory = Factory(gate=threading.Event())
    registry.register("acme", factory)
    with ThreadPoolExecutor(1) as pool:
        building = pool.submit(registry.resolve, "acme")
        assert factory.entered.wait(WAIT)
        with pytest.raises(TenantPending):
            registry.resolve("acme")
        assert not building.done()  # answered while the build is still blocked
        factory.gate.set()
        assert building.result(WAIT) is factory.built[0]
    registry.close()


def test_a_tenant_is_not_served_before_its_first_validation_finished(sink):
    registry = TenantRegistry(health_sink=lambda *state: sink.append(state), build_wait=0.1)
    entered, release = threading.Event(), threading.Event()

    def slow_validator(runtime):
        entered.set()
        assert release.wait(WAIT)

    factory = Factory()
    registry.register("acme", factory, validator=slow_validator)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(registry.resolve, "acme")
        assert entered.wait(WAIT)
        with pytest.raises(TenantPending):
            registry.resolve("acme")
        release.set()
        assert first.result(WAIT) is factory.built[0]
    registry.close()


def test_a_failed_factory_disables_the_tenant_and_is_not_called_again(registry, sink):
    factory = Factory(fail=True)
    registry.register("acme", factory)
    for _ in range(3):
        with pytest.raises(TenantUnavailable, match="build failed: OSError: disk on fire"):
            registry.resolve("acme")
    assert factory.calls == 1
    assert registry.health("acme") == DISABLED
    assert not registry.is_built("acme")
    assert sink == [("acme", DISABLED, "build failed: OSError: disk on fire")]


def test_a_recheck_after_the_factory_is_fixed_makes_the_tenant_healthy(registry, sink):
    factory = Factory(fail=True)
    registry.register("acme", factory)
    with pytest.raises(TenantUnavailable):
        registry.resolve("acme")
    factory.fail = False
    assert registry.recheck("acme") == (HEALTHY, None)
    assert registry.resolve("acme") is factory.built[0]
    assert factory.calls == 2
    assert sink[-1] == ("acme", HEALTHY, None)


def test_re_registering_a_failed_lazy_tenant_gives_it_a_new_build(registry):
    registry.register("acme", Factory(fail=True))
    with pytest.raises(TenantUnavailable):
        registry.resolve("acme")
    fixed = Factory()
    registry.register("acme", fixed)
    assert registry.resolve("acme") is fixed.built[0]
    assert registry.health("acme") == HEALTHY


@pytest.mark.parametrize("stage", ["factory", "validator"])
def test_unregistering_during_the_first_build_leaves_no_entry_and_stops_the_runtime(
        registry, sink, stage):
    gate, entered = threading.Event(), threading.Event()

    def validator(runtime):
        entered.set()
        assert gate.wait(WAIT)

    if stage == "factory":
        factory = Factory(gate=gate)
        registry.register("acme", factory)
        entered = factory.entered
    else:
        factory = Factory()
        registry.register("acme", factory, validator=validator)
    with ThreadPoolExecutor(1) as pool:
        resolving = pool.submit(registry.resolve, "acme")
        assert entered.wait(WAIT)
        assert registry.unregister("acme") is True
        gate.set()
        with pytest.raises(TenantNotFound):
            resolving.result(WAIT)
    assert "acme" not in registry and registry.tenant_ids() == []
    assert factory.built[0].stopped.is_set()
    assert sink == []  # nothing is persisted for a tenant that is gone


def test_re_registration_switches_runtimes_and_stops_the_old_one(registry):
    first, second = Factory(), Factory()
    registry.register("acme", first)
    assert registry.resolve("acme") is first.built[0]
    registry.register("acme", second)
    assert first.built[0].stopped.is_set()
    assert not registry.is_built("acme")
    assert registry.resolve("acme") is second.built[0]
    assert not second.built[0].stopped.is_set()
    assert (first.calls, second.calls) == (1, 1)


@pytest.mark.parametrize("call", ["resolve", "recheck"])
def test_an_unregistered_tenant_is_not_found(registry, call):
    with pytest.raises(TenantNotFound):
        getattr(registry, call)("nobody")
