"""Fault injection for chaos tests and drills; inert unless CHAOS_ENABLED=1 (contract sec. 8)."""
