"""The OpenAPI document: flask-smorest's Api with our error shape and key schemes."""
from __future__ import annotations

import flask
import flask_smorest
from flask import Flask
from flask_smorest import Api
from marshmallow import INCLUDE, Schema, fields
from webargs import core
from webargs.flaskparser import FlaskParser

from .errors import parse_json_strictly
from .settings import Settings


class StrictJsonParser(FlaskParser):
    """webargs' parser, reading bodies with the same strict JSON as the rest of the app.

    A schema with a ``fast_load(data)`` (the parsed body when it is plainly valid, else
    None) has its JSON bodies tried with that first: webargs' own parse, which costs more
    than the hottest views it serves, then answers only what the fast path left, with the
    schema's own messages.
    """

    def parse(self, argmap, req=None, *, location=None, **kwargs):
        fast = getattr(argmap, "fast_load", None)
        if fast is not None and location == "json":
            body = self._raw_load_json(req if req is not None else self.get_default_request())
            if body is not core.missing:
                parsed = fast(body)
                if parsed is not None:
                    return parsed
        return super().parse(argmap, req, location=location, **kwargs)

    def _raw_load_json(self, req: flask.Request):
        if not (req.is_json or req.mimetype.endswith("+json")):
            return core.missing
        return parse_json_strictly(req.get_data(cache=True))


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with the strict JSON parser; every API blueprint uses it."""

    ARGUMENTS_PARSER = StrictJsonParser()


SPEC_CONFIG = {
    "API_TITLE": "Tenantgate",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
}


class ErrorSchema(Schema):
    """Every error: ``{"error": code}`` plus fields that depend on the code."""

    class Meta:
        unknown = INCLUDE

    error = fields.String(required=True, metadata={"example": "unauthorized"})


class TenantgateApi(Api):
    ERROR_SCHEMA = ErrorSchema


def _setting_bounds(settings: Settings):
    """Bounds that come from this app's settings, into the document of each field that
    declares one (the admin schemas' ``limits``)."""
    def setting_bounds(self, field, **kwargs) -> dict:
        if field.metadata.get("max_limits_setting"):
            return {"maxProperties": settings.max_limits_per_tenant}
        return {}
    return setting_bounds


def init_api(app: Flask, services) -> TenantgateApi:
    for key, value in SPEC_CONFIG.items():
        app.config.setdefault(key, value)
    api = TenantgateApi(app)
    api.ma_plugin.converter.add_attribute_function(_setting_bounds(services.settings))
    api.spec.components.security_scheme(
        "AdminKey", {"type": "apiKey", "in": "header", "name": "X-Admin-Key"})
    api.spec.components.security_scheme(
        "ApiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    return api


def api_of(app: Flask) -> TenantgateApi:
    """The app's Api (flask-smorest keeps it under its own extension key)."""
    return app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
