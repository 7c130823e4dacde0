"""Bookkeeping shared by the fuzz tests and the terminal summary (tests/security/conftest.py)."""
from __future__ import annotations

import os
from collections import Counter

# Examples sent, keyed by "<METHOD> <path> [<keys>]".
EXAMPLES: Counter = Counter()

# Examples per operation (or kind of mutation) and variant; the bounded default run is
# reproducible, a long run (FUZZ_EXAMPLES set, as by make fuzz) explores anew.
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
DERANDOMIZE = "FUZZ_EXAMPLES" not in os.environ
