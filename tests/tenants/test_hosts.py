"""Host names: configured hosts and a request's Host header reach one normal form."""
from __future__ import annotations

import pytest

from app.tenants.hosts import normalize_host

NORMALISED = {
    "upper case": ("ACME.Example", "acme.example"),
    "port": ("acme.example:8443", "acme.example"),
    "trailing dot": ("acme.example.", "acme.example"),
    "trailing dot and port": ("acme.example.:443", "acme.example"),
    "spaces around": (" acme.example ", "acme.example"),
    "longest label": ("a" * 63 + ".example", "a" * 63 + ".example"),
    "ipv4 and port": ("1.2.3.4:80", "1.2.3.4"),
    "ipv6 in brackets with port": ("[::1]:80", "::1"),
    "ipv6 in brackets": ("[::1]", "::1"),
    "bare ipv6": ("::1", "::1"),
    "ipv6 written long": ("[2001:0db8:0:0:0:0:0:1]:443", "2001:db8::1"),
}

REFUSED = {
    "empty": "",
    "a dot alone": ".",
    "empty label": "acme..example",
    "underscore": "under_score.example",
    "leading dash": "-acme.example",
    "trailing dash": "acme-.example",
    "label over 63": "a" * 64 + ".example",
    "name over 253": ".".join(["a" * 63] * 4),
    "port over five digits": "acme.example:123456",
    "a path": "acme.example/path",
    "unclosed bracket": "[::1",
    "text after the bracket": "[::1]x",
    "ipv6 port over five digits": "[::1]:123456",
    "not an address in brackets": "[not-ipv6]",
}


@pytest.mark.parametrize("raw, normal", NORMALISED.values(), ids=NORMALISED.keys())
def test_a_host_is_lower_case_without_port_trailing_dot_or_brackets(raw, normal):
    assert normalize_host(raw) == normal


@pytest.mark.parametrize("raw", REFUSED.values(), ids=REFUSED.keys())
def test_anything_that_is_not_a_host_name_or_address_is_none(raw):
    assert normalize_host(raw) is None
