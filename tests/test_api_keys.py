"""API keys: each request's key is compared in constant time against every configured key."""
from __future__ import annotations

import hmac

import pytest

from app.api_keys import key_matches

ADMIN_KEYS = ("api-keys-admin-one-8c1d52", "api-keys-admin-two-47ae09")
API_KEYS = ("api-keys-api-one-d3b7f1", "api-keys-api-two-90c4e6")


@pytest.fixture
def settings_overrides():
    return {"TENANT_ADMIN_KEY": ",".join(ADMIN_KEYS), "TENANT_API_KEY": ",".join(API_KEYS)}


@pytest.fixture
def compare_calls(monkeypatch) -> list:
    """Every hmac.compare_digest call as (presented, configured), still really compared."""
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


CONFIGURED = [("k-one-0001",), ("k-one-0001", "k-two-0002"),
              ("k-one-0001", "k-two-0002", "k-three-0003", "k-four-0004", "k-five-0005")]
PRESENTED = {"first key": lambda keys: keys[0], "last key": lambda keys: keys[-1],
             "wrong key": lambda keys: "k-wrong-9999", "prefix of a key": lambda keys: "k-one"}


@pytest.mark.parametrize("presented", PRESENTED.values(), ids=PRESENTED.keys())
@pytest.mark.parametrize("configured", CONFIGURED, ids=lambda keys: f"{len(keys)}-keys")
def test_every_configured_key_is_compared_with_hmac_compare_digest(compare_calls, configured,
                                                                   presented):
    candidate = presented(configured)
    assert key_matches(candidate, configured) == (candidate in configured)
    # No early exit on a match: one constant-time comparison per configured key, each key once.
    assert len(compare_calls) == len(configured)
    assert [b for _, b in compare_calls] == [k.encode() for k in configured]


@pytest.mark.parametrize("method, path, headers, keys", [
    ("GET", "/admin/tenants", {"X-Admin-Key": ADMIN_KEYS[0]}, ADMIN_KEYS),
    ("GET", "/admin/tenants", {"X-Admin-Key": "wrong"}, ADMIN_KEYS),
    ("POST", "/tenant/acme/set_ready", {"X-API-Key": API_KEYS[0]}, API_KEYS),
], ids=["admin-first-key", "admin-wrong-key", "api-first-key"])
def test_a_request_compares_its_key_against_every_configured_key(client, compare_calls, method,
                                                                 path, headers, keys):
    client.open(path, method=method, json={"ready": False}, headers=headers)
    assert sorted(b for _, b in compare_calls) == sorted(k.encode() for k in keys)


@pytest.mark.parametrize("presented, accepted", [
    (None, ("k-one-0001",)), ("", ("k-one-0001",)), ("k-one-0001", ()),
], ids=["no-key-presented", "empty-key-presented", "no-key-configured"])
def test_a_missing_key_or_no_configured_key_matches_nothing(presented, accepted):
    assert key_matches(presented, accepted) is False


def test_a_key_that_is_not_valid_text_is_refused_without_an_error():
    # A header decoded from undecodable bytes: compared as those bytes, never raised on.
    assert key_matches("k-one-0001\udcff", ("k-one-0001",)) is False
