"""Tenantgate's benchmark suite: `make bench` (python -m bench.run); see docs/performance.md."""
