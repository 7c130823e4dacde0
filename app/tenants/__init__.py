"""Tenants concern: identifiers, host names, directories, and registration under the label cap."""
