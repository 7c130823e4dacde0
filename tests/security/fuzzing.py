"""Bookkeeping shared by the fuzz tests and the terminal summary (tests/security/conftest.py)."""
from __future__ import annotations

from collections import Counter

# Examples sent, keyed by "<METHOD> <path> [<keys>]".
EXAMPLES: Counter = Counter()
