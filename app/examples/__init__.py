"""Example tenant-scoped blueprints for application teams (not registered by default)."""
