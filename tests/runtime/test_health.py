"""The tenant health state machine (contract sec. 5) and how validator results are read."""
from __future__ import annotations

import pytest

from app.runtime.health import (DISABLED, HEALTHY, OK, PENDING, PERMANENT, TRANSIENT,
                                UNVERIFIED, Outcome, ValidationFailure, next_state, outcome_of)

PASSED = Outcome(True)
FAILED_TRANSIENTLY = Outcome(False, TRANSIENT, "slow disk")
FAILED_PERMANENTLY = Outcome(False, PERMANENT, "gone")


@pytest.mark.parametrize("current, outcome, expected", [
    # pending -> healthy | disabled: a first validation never leaves a tenant unverified
    (PENDING, PASSED, HEALTHY),
    (PENDING, FAILED_TRANSIENTLY, DISABLED),
    (PENDING, FAILED_PERMANENTLY, DISABLED),
    # healthy -> unverified on a transient failure, disabled on a permanent one
    (HEALTHY, PASSED, HEALTHY),
    (HEALTHY, FAILED_TRANSIENTLY, UNVERIFIED),
    (HEALTHY, FAILED_PERMANENTLY, DISABLED),
    # unverified -> healthy when a recheck passes, disabled on a permanent failure
    (UNVERIFIED, PASSED, HEALTHY),
    (UNVERIFIED, FAILED_TRANSIENTLY, UNVERIFIED),
    (UNVERIFIED, FAILED_PERMANENTLY, DISABLED),
    # disabled -> healthy only when a recheck passes
    (DISABLED, PASSED, HEALTHY),
    (DISABLED, FAILED_TRANSIENTLY, DISABLED),
    (DISABLED, FAILED_PERMANENTLY, DISABLED),
])
def test_next_state_follows_the_contracts_transitions(current, outcome, expected):
    assert next_state(current, outcome) == expected


@pytest.mark.parametrize("result, expected", [
    (None, OK),
    (True, OK),
    (False, Outcome(False, PERMANENT, "validator returned false")),
    (FAILED_TRANSIENTLY, FAILED_TRANSIENTLY),
    (FAILED_PERMANENTLY, FAILED_PERMANENTLY),
])
def test_outcome_of_reads_none_and_true_as_ok_and_false_as_a_permanent_failure(
        result, expected):
    assert outcome_of(result) == expected


@pytest.mark.parametrize("result", [0, 1, "ok", "", [], {}, object()])
def test_outcome_of_refuses_any_other_validator_result(result):
    with pytest.raises(TypeError, match="expected None or bool"):
        outcome_of(result)


def test_ok_is_a_passing_outcome_without_kind_or_reason():
    assert (OK.ok, OK.kind, OK.reason) == (True, None, None)


@pytest.mark.parametrize("kwargs, kind", [({}, TRANSIENT), ({"kind": TRANSIENT}, TRANSIENT),
                                          ({"kind": PERMANENT}, PERMANENT),
                                          ({"recovery": TRANSIENT}, TRANSIENT),
                                          ({"recovery": PERMANENT}, PERMANENT)])
def test_a_validation_failure_carries_its_kind_and_reason(kwargs, kind):
    failure = ValidationFailure("uploads_dir not writable", **kwargs)
    assert (failure.kind, failure.recovery, failure.reason, str(failure)) == \
        (kind, kind, "uploads_dir not writable", "uploads_dir not writable")


def test_a_validation_failure_refuses_an_unknown_recovery():
    with pytest.raises(ValueError, match="kind must be"):
        ValidationFailure("x", recovery="later")


@pytest.mark.parametrize("kind", ["fatal", "", None, "PERMANENT"])
def test_a_validation_failure_refuses_an_unknown_kind(kind):
    with pytest.raises(ValueError, match="kind must be"):
        ValidationFailure("x", kind)
