"""TenantRuntimes: which tenant a Host header names, following the store."""
from __future__ import annotations

import pytest

from app.services import services_of
from tests.runtime.helpers import AUTH, put


@pytest.fixture
def tenants(app):
    return services_of(app).tenants


@pytest.mark.parametrize("header, tenant", [
    ("acme.example", "acme"),
    ("ACME.EXAMPLE", "acme"),
    ("acme.example:8080", "acme"),
    ("acme.example.", "acme"),
    ("ACME.Example.:443", "acme"),
    ("[::1]:8080", "local"),
    ("[::1]", "local"),
    ("::1", "local"),
    ("[0:0:0:0:0:0:0:1]:80", "local"),
    ("other.example", None),
    ("acme.example.evil", None),
    ("[::1", None),
    ("", None),
])
def test_a_host_header_names_a_tenant_whatever_its_case_port_trailing_dot_or_ipv6_form(
        client, tenants, header, tenant):
    assert put(client, "acme", {"hosts": ["Acme.Example."]}).status_code == 201
    assert put(client, "local", {"hosts": ["[::1]"]}).status_code == 201
    assert tenants.tenant_for_host(header) == tenant


def test_hosts_follow_re_registration_and_purge(client, tenants):
    assert put(client, "acme", {"hosts": ["old.example"]}).status_code == 201
    assert tenants.tenant_for_host("old.example") == "acme"
    assert put(client, "acme", {"hosts": ["new.example"]}).status_code == 200
    assert tenants.tenant_for_host("old.example") is None
    assert tenants.tenant_for_host("new.example") == "acme"
    assert client.delete("/admin/tenants/acme?purge=1", headers=AUTH).status_code == 200
    assert tenants.tenant_for_host("new.example") is None
