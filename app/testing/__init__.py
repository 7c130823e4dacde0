"""Testing kit for application teams (contract sec. 16): a pytest plugin, loaded by the
``pytest11`` entry point when Tenantgate is installed (app/testing/pytest_plugin.py)."""
