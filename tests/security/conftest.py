"""Security tests: a seeded gunicorn per module that asks for one, and the number of fuzz
examples tried, printed at the end of every run."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.fuzzing import EXAMPLES
from tests.security.serving_state import seeded_server, unchanged_check

WIRE = "WIRE "  # prefix of the raw-socket fuzz's labels (tests/security/test_fuzz_wire.py)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, request) -> Path:
    """The module's directory: its server's store and data root, and its logs."""
    return tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])


@pytest.fixture(scope="module")
def seeded_env() -> dict:
    """Settings a module adds to its seeded server's (override it in the module)."""
    return {}


@pytest.fixture(scope="module")
def server(sandbox, seeded_env):
    """gunicorn (2 workers) with tenant acme and a processed upload, for the whole module."""
    with seeded_server(sandbox, env=seeded_env) as server:
        yield server


@pytest.fixture
def root(sandbox) -> Path:
    return (sandbox / "tenants").resolve()


@pytest.fixture
def unchanged(server, sandbox):
    """Asserts, when called, that nothing the module's server holds changed since."""
    return unchanged_check(server, sandbox / "tenants")


def pytest_terminal_summary(terminalreporter):
    if not EXAMPLES:
        return
    api = {label: n for label, n in EXAMPLES.items() if not label.startswith(WIRE)}
    wire = {label: n for label, n in EXAMPLES.items() if label.startswith(WIRE)}
    terminalreporter.write_sep("-", "fuzz")
    if api:
        operations = {label.rsplit(" [", 1)[0] for label in api}
        terminalreporter.write_line(
            f"fuzz: {sum(api.values())} examples tried against {len(operations)} operations "
            f"({len(api)} operation/key variants)")
    if wire:
        terminalreporter.write_line(
            f"fuzz: {sum(wire.values())} raw-socket requests tried ({len(wire)} "
            "mutation/target variants: chunked encodings, header lines, methods)")
