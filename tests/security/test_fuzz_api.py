"""Schemathesis fuzzes every operation of the app's own /openapi.json (contract sec. 7).

Each operation is fuzzed twice: with valid keys (X-Admin-Key and X-API-Key) and with
whatever key schemathesis draws (none, or a random wrong one; its negative cases also
leave a required key out). Tenant routes are fuzzed with drawn tenant ids and with a
valid one, existing or not. Every answer must be:

- no server error (schemathesis' ``not_a_server_error``), except a 503 that the contract
  defines (a disabled, failed or pending tenant, a global limit, the store; /readyz);
- conformant to the document: status code, content type and body schema;
- for a protected operation without a valid key: 401 (or the 400 for a bad tenant id,
  which the contract answers before anything else) and never a 2xx.

The default run is bounded and deterministic: FUZZ_EXAMPLES (default 15) examples per
operation and key variant, derandomized. ``make fuzz`` sets FUZZ_EXAMPLES higher, which
also lets Hypothesis pick a random seed (printed with any failure). The number of examples
tried is printed in the terminal summary (tests/security/conftest.py).
"""
from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)

from app import close_app, create_app
from tests.security.fuzzing import DERANDOMIZE, EXAMPLES, FUZZ_EXAMPLES

ADMIN_KEY = "fuzz-admin-key-7d1f0a"
API_KEY = "fuzz-api-key-2be94c"
VALID_KEYS = {"X-Admin-Key": ADMIN_KEY, "X-API-Key": API_KEY}
KEY_VARIANTS = ["valid-keys", "missing-or-wrong-keys"]
EXISTING_TENANT, NEW_TENANT = "fuzz-acme", "fuzz-new"

# Every 503 the contract defines, by error code (sec. 5, 6, 10).
CONTRACT_503_ERRORS = {"tenant_disabled", "tenant_unavailable", "tenant_pending",
                       "tenant_storage_unavailable", "store_unavailable", "concurrency_limit"}
# Operations that need a key by contract (sec. 4 and 7), whatever the document says.
ADMIN_PREFIX = "/admin/"
API_KEY_OPERATIONS = {("POST", "/tenant/{tenant}/set_ready")}

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
ENV_TO_CLEAR = ("TENANT_ADMIN_KEY", "TENANT_API_KEY", "TENANT_DB_URL", "PROMETHEUS_MULTIPROC_DIR",
                "CHAOS_ENABLED", "LIMIT_STATE_DIR")


def fuzz_config(root: str) -> dict[str, Any]:
    return {
        "TESTING": False,  # a server error is answered (500), as in production
        "TENANT_DB_PATH": os.path.join(root, "store", "tenants.sqlite3"),
        "TENANT_DATA_ROOT": os.path.join(root, "tenants"),
        "TENANT_ADMIN_KEY": ADMIN_KEY,
        "TENANT_API_KEY": API_KEY,
        "CHAOS_ENABLED": "0",
    }


def documented_operations() -> list[str]:
    """"METHOD /path" of every operation in the document, read from a throwaway app."""
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as root:
        for name in ENV_TO_CLEAR:
            patch.delenv(name, raising=False)
        app = create_app(fuzz_config(root))
        try:
            spec = app.test_client().get("/openapi.json").get_json()
        finally:
            close_app(app)
    return [f"{method.upper()} {path}" for path, item in spec["paths"].items()
            for method in item if method in HTTP_METHODS]


def pytest_generate_tests(metafunc):
    if "operation_label" in metafunc.fixturenames:
        metafunc.parametrize("operation_label", documented_operations())


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    """One fresh app (own store and data root, chaos off) for the whole module."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ENV_TO_CLEAR:
            patch.delenv(name, raising=False)
        app = create_app(fuzz_config(str(tmp_path_factory.mktemp("fuzz"))))
        created = app.test_client().put(f"/admin/tenants/{EXISTING_TENANT}", json={},
                                        headers=VALID_KEYS)
        assert created.status_code == 201
        yield app
        close_app(app)


@pytest.fixture(scope="module")
def spec(fuzz_app) -> dict:
    return fuzz_app.test_client().get("/openapi.json").get_json()


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


def is_protected(method: str, path: str) -> bool:
    return path.startswith(ADMIN_PREFIX) or (method, path) in API_KEY_OPERATIONS


def json_body(response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def no_server_error_but_contract_503s(ctx, response, case):
    """``not_a_server_error``, except for the 503 answers the contract itself defines."""
    documented = case.operation.definition.raw.get("responses", {})
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if response.status_code == 503 and ("503" in documented or error in CONTRACT_503_ERRORS):
        return None
    return not_a_server_error(ctx, response, case)


def refused_without_a_valid_key(ctx, response, case):
    """A protected operation without a valid key answers 401 (400 for a bad tenant id)."""
    if not is_protected(case.method.upper(), case.operation.path):
        return None
    body = json_body(response)
    assert (response.status_code, body) in (
        (401, {"error": "unauthorized"}), (400, {"error": "invalid_tenant_id"})), \
        f"{case.method} {case.formatted_path} without a valid key answered " \
        f"{response.status_code} {response.text[:200]!r}"
    return None


CHECKS = [no_server_error_but_contract_503s, status_code_conformance,
          content_type_conformance, response_schema_conformance]


def case_strategy(operation, path: str):
    """Positive and negative cases; for tenant routes also with a valid tenant id (one that
    exists, one that does not), so bodies and queries get past the id check and are fuzzed
    too (the document does not give the id's pattern, so drawn ids are mostly invalid)."""
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(mode) for mode in modes]
    if "{tenant}" in path:
        strategies += [operation.as_strategy(mode, path_parameters={"tenant": tenant})
                       for mode in modes for tenant in (EXISTING_TENANT, NEW_TENANT)]
    return st.one_of(strategies)


@pytest.mark.parametrize("keys", KEY_VARIANTS)
def test_fuzzed_requests_get_no_server_error_and_answers_match_the_document(
        fuzz_schema, operation_label, keys):
    method, path = operation_label.split(" ", 1)
    operation = fuzz_schema[path][method]
    cases = case_strategy(operation, path)
    checks = CHECKS if keys == "valid-keys" else [*CHECKS, refused_without_a_valid_key]
    counter_key = f"{operation_label} [{keys}]"

    @settings(max_examples=FUZZ_EXAMPLES, derandomize=DERANDOMIZE, database=None,
              deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def fuzz(case):
        EXAMPLES[counter_key] += 1
        if keys == "valid-keys":
            case.call_and_validate(headers=VALID_KEYS, checks=checks)
        else:
            for header, valid in VALID_KEYS.items():
                if case.headers and case.headers.get(header) == valid:
                    case.headers.pop(header)
            case.call_and_validate(checks=checks)

    fuzz()
    assert EXAMPLES[counter_key] > 0


def test_every_operation_that_needs_a_key_declares_it_in_the_document(spec):
    """Clients and fuzzers learn from the document which header carries which key."""
    needed = {"AdminKey": [], "ApiKey": []}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS or not is_protected(method.upper(), path):
                continue
            scheme = "AdminKey" if path.startswith(ADMIN_PREFIX) else "ApiKey"
            declared = {name for entry in operation.get("security", []) for name in entry}
            if scheme not in declared:
                needed[scheme].append(f"{method.upper()} {path}")
    assert needed == {"AdminKey": [], "ApiKey": []}


def test_every_reference_in_the_document_resolves(spec):
    """A dangling $ref makes the whole operation unusable for clients and fuzzers."""
    dangling = []

    def walk(node, where):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target = spec
                for part in ref.lstrip("#/").split("/"):
                    target = target.get(part) if isinstance(target, dict) else None
                if target is None:
                    dangling.append(f"{where}: {ref}")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(spec["paths"], "#/paths")
    assert dangling == []


@pytest.mark.parametrize("path", ["/t/{tenant}/uploads", "/uploads"])
def test_upload_operations_document_their_multipart_file_body(spec, path):
    """Without a documented body no client (nor fuzzer) can send the ``file`` field."""
    body = spec["paths"][path]["post"].get("requestBody", {})
    schema = body.get("content", {}).get("multipart/form-data", {}).get("schema", {})
    assert "file" in schema.get("properties", {}), spec["paths"][path]["post"]
