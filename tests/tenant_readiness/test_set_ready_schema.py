"""set_ready's body: the fast path (SetReadySchema.fast_load) never answers differently
from the schema itself; whatever it leaves is the schema's to refuse."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st
from marshmallow import ValidationError

from app.tenant_readiness.schemas import SetReadySchema

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["ready", "Ready", "force", ""]) | st.text(), inner,
                      max_size=3),
    max_leaves=8)


def loaded(data):
    try:
        return SetReadySchema().load(data)
    except ValidationError:
        return "refused"


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_the_fast_path_answers_as_the_schema_or_leaves_it_to_the_schema(data):
    fast = SetReadySchema.fast_load(data)
    assert fast is None or fast == loaded(data)


def test_the_fast_path_takes_every_valid_body_and_nothing_else():
    for ready in (True, False, None):
        assert SetReadySchema.fast_load({"ready": ready}) == {"ready": ready}
    for data in ({"ready": 1}, {"ready": 0}, {"ready": "true"}, {}, {"ready": True, "x": 1},
                 [{"ready": True}], True, None, {"Ready": True}):
        assert SetReadySchema.fast_load(data) is None
