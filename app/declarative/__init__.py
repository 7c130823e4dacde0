"""Declarative tenants: a folder per tenant, applied so the store matches it (contract
sec. 15). ``folders`` reads the tree, ``plan`` validates and compares, ``apply`` writes,
``cli`` is ``flask tenants apply``; POST /admin/apply (app/admin/apply_views.py) serves
the same over HTTP."""
