"""Security tests: the number of fuzz examples tried is printed at the end of every run."""
from __future__ import annotations

from tests.security.fuzzing import EXAMPLES


def pytest_terminal_summary(terminalreporter):
    if not EXAMPLES:
        return
    operations = {label.rsplit(" [", 1)[0] for label in EXAMPLES}
    terminalreporter.write_sep("-", "fuzz (schemathesis)")
    terminalreporter.write_line(
        f"fuzz: {sum(EXAMPLES.values())} examples tried against {len(operations)} operations "
        f"({len(EXAMPLES)} operation/key variants)")
