"""A WSGI app for tests whose admin answers fail to render for tenants named ``boom-*``.

It stands for any failure after a write and before the answer is out (a bug in a
schema, a value that cannot be serialised): the request must change nothing.
"""
from app import create_app
from app.admin.schemas import DeletedSchema, TenantSchema


def _failing_for_boom(schema_class) -> None:
    dump = schema_class.dump

    def dump_or_fail(self, obj, *args, **kwargs):
        if isinstance(obj, dict) and str(obj.get("tenant_id", "")).startswith("boom-"):
            raise RuntimeError("rendering the answer failed")
        return dump(self, obj, *args, **kwargs)

    schema_class.dump = dump_or_fail


_failing_for_boom(TenantSchema)
_failing_for_boom(DeletedSchema)
app = create_app()
