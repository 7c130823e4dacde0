"""Free JSON (a tenant's ``extra``, a manifest): bounded in depth and in serialised size.

The admin API's refusals of it are in tests/security/test_hostile_admin.py; here the
bounds themselves.
"""
from __future__ import annotations

import json

import pytest

from app.free_json import MAX_BYTES, MAX_DEPTH, depth, problem


def nested(levels: int, inner=None) -> dict:
    value = {} if inner is None else inner
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("value, levels", [
    ("text", 0), (7, 0), (None, 0), ({}, 1), ([], 1), ({"a": 1, "b": "x"}, 1),
    ({"a": [1, 2]}, 2), ([{"a": []}], 3), ({"a": {}, "b": {"c": {}}}, 3), (nested(32), 32),
])
def test_depth_counts_levels_of_objects_and_arrays(value, levels):
    assert depth(value) == levels


def test_depth_stops_counting_just_above_the_bound():
    # A hostile value may be far deeper: counting stops as soon as it is over.
    assert depth(nested(10_000), stop_above=MAX_DEPTH) == MAX_DEPTH + 1


@pytest.mark.parametrize("value", [{}, nested(MAX_DEPTH), {"pad": "x" * (MAX_BYTES - 20)}],
                         ids=["empty", "deepest allowed", "largest allowed"])
def test_a_value_within_the_bounds_has_no_problem(value):
    assert len(json.dumps(value, sort_keys=True).encode()) <= MAX_BYTES
    assert problem(value) is None


def test_a_value_one_level_too_deep_is_refused_by_its_depth():
    assert problem(nested(MAX_DEPTH + 1)) == f"Must be at most {MAX_DEPTH} levels deep."


def test_a_value_one_byte_too_large_is_refused_by_its_size():
    value = {"pad": ""}
    value["pad"] = "x" * (MAX_BYTES - len(json.dumps(value).encode()) + 1)
    assert len(json.dumps(value, sort_keys=True).encode()) == MAX_BYTES + 1
    assert problem(value) == f"Must be at most {MAX_BYTES} bytes as JSON."
