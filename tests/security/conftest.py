"""Security tests: the number of fuzz examples tried is printed at the end of every run."""
from __future__ import annotations

from tests.security.fuzzing import EXAMPLES

WIRE = "WIRE "  # prefix of the raw-socket fuzz's labels (tests/security/test_fuzz_wire.py)


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
