"""Tenant and workspace identifiers: DNS labels of at most 63 characters, nothing else."""
from __future__ import annotations

import pytest

from app.tenants.ids import is_valid_id

VALID = {"one letter": "a", "one digit": "7", "letters and digits": "acme2",
         "inner dash": "acme-corp", "63 characters": "a" * 63}

INVALID = {
    "empty": "",
    "64 characters": "a" * 64,
    "upper case": "Acme",
    "underscore": "acme_corp",
    "dot": "acme.corp",
    "leading dash": "-acme",
    "trailing dash": "acme-",
    "trailing newline": "acme\n",
    "space": "acme corp",
    "cyrillic look-alike": "\u0430cme",
    "not text": b"acme",
    "no value": None,
    "a number": 7,
}


@pytest.mark.parametrize("value", VALID.values(), ids=VALID.keys())
def test_a_dns_label_of_at_most_63_characters_is_valid(value):
    assert is_valid_id(value) is True


@pytest.mark.parametrize("value", INVALID.values(), ids=INVALID.keys())
def test_anything_else_is_invalid(value):
    assert is_valid_id(value) is False
