"""TenantRegistry validation: failures by kind, deadlines for hanging validators, and the
health sink that persists every state."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.runtime.health import (DISABLED, HEALTHY, PERMANENT, TRANSIENT, UNVERIFIED,
                                ValidationFailure)
from app.runtime.registry import TenantRegistry, TenantUnavailable
from tests.runtime.registry_doubles import WAIT, Factory, Runtime, Validator


FAILING_VALIDATIONS = [
    pytest.param(False, "validator returned false", id="returns-false"),
    pytest.param(ValidationFailure("gone for good", PERMANENT), "gone for good",
                 id="raises-permanent"),
]


@pytest.mark.parametrize("result, reason", FAILING_VALIDATIONS)
def test_a_permanently_failing_first_validation_disables_a_lazy_tenant(
        registry, sink, result, reason):
    validator, factory = Validator(), Factory()
    validator.result = result
    registry.register("acme", factory, validator=validator)
    with pytest.raises(TenantUnavailable, match=reason):
        registry.resolve("acme")
    assert registry.health("acme") == DISABLED
    assert factory.built[0].stopped.is_set()  # the rejected runtime is not kept running
    assert sink == [("acme", DISABLED, reason)]


@pytest.mark.parametrize("result, reason", FAILING_VALIDATIONS)
def test_a_permanent_recheck_failure_disables_a_healthy_tenant(
        registry, sink, result, reason):
    validator, runtime = Validator(), Runtime()
    registry.register("acme", lambda: runtime, validator=validator)
    assert registry.resolve("acme") is runtime and registry.health("acme") == HEALTHY
    validator.result = result
    assert registry.recheck("acme") == (DISABLED, reason)
    with pytest.raises(TenantUnavailable, match=reason):
        registry.resolve("acme")
    assert sink == [("acme", HEALTHY, None), ("acme", DISABLED, reason)]


def test_a_transient_recheck_failure_makes_a_healthy_tenant_unverified_until_a_pass(
        registry, sink):
    validator, runtime = Validator(), Runtime()
    registry.register("acme", lambda: runtime, validator=validator)
    assert registry.resolve("acme") is runtime and registry.health("acme") == HEALTHY
    validator.result = ValidationFailure("data_dir missing", TRANSIENT)
    assert registry.recheck("acme") == (UNVERIFIED, "data_dir missing")
    assert registry.resolve("acme") is runtime  # an unverified tenant keeps serving
    validator.result = RuntimeError("flaky")  # an unexpected error is transient too
    assert registry.recheck("acme") == (UNVERIFIED, "validator raised RuntimeError: flaky")
    validator.result = None
    assert registry.recheck("acme") == (HEALTHY, None)
    assert [state for _, state, _ in sink] == [HEALTHY, UNVERIFIED, UNVERIFIED, HEALTHY]
    assert not runtime.stopped.is_set()


def test_a_hanging_validator_is_abandoned_at_its_deadline_and_blocks_no_other_tenant(sink):
    registry = TenantRegistry(health_sink=lambda *state: sink.append(state),
                              validator_timeout=0.2, build_wait=WAIT)
    entered, release = threading.Event(), threading.Event()

    def hang(runtime):
        entered.set()
        release.wait(WAIT)

    registry.register("stuck", Factory(), validator=hang)
    other = Factory()
    registry.register("other", other, validator=lambda runtime: True)
    try:
        with ThreadPoolExecutor(1) as pool:
            stuck = pool.submit(registry.resolve, "stuck")
            assert entered.wait(WAIT)
            assert registry.resolve("other") is other.built[0]
            assert not release.is_set() and registry.health("other") == HEALTHY
            with pytest.raises(TenantUnavailable, match="validator timed out after 0.2s"):
                stuck.result(WAIT)
        assert registry.health("stuck") == DISABLED
    finally:
        release.set()
        registry.close()


def test_validators_left_hanging_by_many_tenants_do_not_fail_another_tenants_validation(sink):
    registry = TenantRegistry(health_sink=lambda *state: sink.append(state),
                              validator_timeout=0.3, build_wait=WAIT)
    release = threading.Event()
    hanging = [f"stuck-{i}" for i in range(8)]
    for tenant in hanging:
        registry.register(tenant, Factory(), validator=lambda runtime: release.wait(WAIT))
    other = Factory()
    registry.register("other", other, validator=lambda runtime: True)
    try:
        with ThreadPoolExecutor(len(hanging)) as pool:
            for future in [pool.submit(registry.resolve, tenant) for tenant in hanging]:
                with pytest.raises(TenantUnavailable, match="timed out"):
                    future.result(WAIT)
        assert not release.is_set()  # every one of those validators is still hanging
        assert registry.resolve("other") is other.built[0]
        assert registry.health("other") == HEALTHY
    finally:
        release.set()
        registry.close()


def test_the_health_sink_receives_every_persisted_state_in_order(registry, sink):
    validator = Validator()
    registry.register("acme", Factory(), validator=validator)
    assert sink == []  # registering persists nothing: the tenant is pending
    registry.resolve("acme")
    for result in (ValidationFailure("slow disk"), ValidationFailure("bad", PERMANENT), None):
        validator.result = result
        registry.recheck("acme")
    assert sink == [("acme", HEALTHY, None), ("acme", UNVERIFIED, "slow disk"),
                    ("acme", DISABLED, "bad"), ("acme", HEALTHY, None)]


def test_a_failing_health_sink_does_not_stop_the_worker_from_serving():
    def broken_sink(tenant, state, reason):
        raise OSError("store is read-only")

    registry = TenantRegistry(health_sink=broken_sink)
    factory = Factory()
    registry.register("acme", factory, validator=lambda runtime: True)
    assert registry.resolve("acme") is factory.built[0]
    assert registry.health("acme") == HEALTHY
    registry.close()
